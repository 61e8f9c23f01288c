"""Widgets reach the core only through ``api/`` and ``tables.py``.

The imports of every module under ``orangecontrib/imagelab/widgets`` are
parsed (not executed), so a lazy import inside a function counts too.
"""
import ast
import os

import orangecontrib.imagelab.widgets as widgets

PACKAGE = "orangecontrib.imagelab"
WIDGETS_DIR = os.path.dirname(os.path.abspath(widgets.__file__))

#: Modules that still import the core; each entry must still need it (the
#: test below says when to remove it).
NOT_YET_MIGRATED = set()


def widget_modules():
    for root, _, files in os.walk(WIDGETS_DIR):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                yield os.path.relpath(path, WIDGETS_DIR).replace(os.sep, "/"), path


def module_name(relpath: str) -> str:
    parts = ["orangecontrib", "imagelab", "widgets"] + relpath[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: str, name: str):
    """Absolute names of the modules ``path`` imports (relative ones resolved)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield module
            # ``from orangecontrib.imagelab import core`` imports a module too
            yield from (f"{module}.{alias.name}" for alias in node.names)


def core_imports(relpath: str, path: str):
    return sorted({m for m in imported_modules(path, module_name(relpath))
                   if m == f"{PACKAGE}.core" or m.startswith(f"{PACKAGE}.core.")})


def test_widgets_do_not_import_core():
    modules = dict(widget_modules())
    assert "owimportimages.py" in modules and "utils/tasks.py" in modules
    offenders = {rel: core_imports(rel, path) for rel, path in modules.items()
                 if rel not in NOT_YET_MIGRATED}
    offenders = {rel: names for rel, names in offenders.items() if names}
    assert not offenders, (
        f"widget modules import core internals: {offenders}; call an `api/` function "
        f"or `tables.py` instead (add a thin one to `api/` if none fits)")


def test_not_yet_migrated_list_is_current():
    modules = dict(widget_modules())
    stale = [rel for rel in NOT_YET_MIGRATED
             if rel not in modules or not core_imports(rel, modules[rel])]
    assert not stale, f"remove {stale} from NOT_YET_MIGRATED: they no longer import core"


def test_the_parser_sees_core_imports(tmp_path):
    source = ("import orangecontrib.imagelab.core.paths\n"
              "from ...core.errors import Cancelled\n"
              "from orangecontrib.imagelab import core\n"
              "def f():\n    from orangecontrib.imagelab.core.pixels import decoding\n")
    path = tmp_path / "probe.py"
    path.write_text(source)
    found = set(core_imports("utils/probe.py", str(path)))
    assert {"orangecontrib.imagelab.core", "orangecontrib.imagelab.core.errors",
            "orangecontrib.imagelab.core.paths",
            "orangecontrib.imagelab.core.pixels.decoding"} <= found, found
    path.write_text("from orangecontrib.imagelab.api import Cancelled\n"
                    "from .. import tables\n")
    assert core_imports("utils/probe.py", str(path)) == []
