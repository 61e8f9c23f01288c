"""The core stays GUI-free: importing it must not load Qt or Orange's widgets."""
import pkgutil
import subprocess
import sys

import orangecontrib.imagelab.core as core


def test_core_loads_no_qt():
    modules = [m.name for m in pkgutil.walk_packages(core.__path__, core.__name__ + ".")]
    assert modules, "no core modules found"
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PyQt5', 'PyQt6', 'AnyQt', 'PySide2', 'PySide6', 'orangewidget') "
        "or m.startswith('Orange.widgets'))\n"
        "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_scripting_api_names_resolve():
    import orangecontrib.imagelab as imagelab
    for name in imagelab.__all__:
        assert getattr(imagelab, name) is not None, name
