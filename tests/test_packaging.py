"""What a wheel built from this tree holds, and the package's metadata.

The wheel is built from a copy of the files git tracks (or would track), as a
clean clone would build it, with the venv's setuptools (no downloads).
"""
import email
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import orangecontrib.imagelab as imagelab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_setup_lists():
    """TEST_REQUIRES etc. from setup.py, without running setup()."""
    spec = importlib.util.spec_from_file_location("setup_lists", os.path.join(ROOT, "setup.py"))
    source = open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read()
    source = source[:source.index("\nsetup(")]
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, spec.origin, "exec"), module.__dict__)
    return module


def tree_files():
    """Paths (relative, with /) that a clean clone of this tree has."""
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"],
                         cwd=ROOT, check=True, capture_output=True).stdout
    return sorted(p for p in out.decode().split("\0")
                  if p and os.path.isfile(os.path.join(ROOT, p)))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    source = tmp_path_factory.mktemp("source")
    for path in tree_files():
        target = source / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, path), target)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "-w", str(out), str(source)],
                   check=True, cwd=source)
    path, = out.glob("*.whl")
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        meta_name, = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(meta_name))
    return names, metadata, str(path)


def test_wheel_holds_the_whole_package_and_its_help(wheel):
    names, _, _ = wheel
    package = [p for p in tree_files() if p.startswith("orangecontrib/")]
    missing = [p for p in package if p not in names]
    assert not missing, f"package_data misses {missing[:10]}"
    for kind in ("widgets/icons/", "tutorials/", "sample/photos/", "sample/fashion/",
                 "core/data/"):
        assert any(n.startswith(f"orangecontrib/imagelab/{kind}") for n in names), kind
    assert not [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
    help_root = "orangecontrib/imagelab/help/"
    assert help_root + "index.html" in names
    widget_folder = os.path.join(ROOT, "orangecontrib", "imagelab", "widgets")
    for module in os.listdir(widget_folder):
        if module.startswith("ow") and module.endswith(".py"):
            assert f"{help_root}widgets/{module[2:-3]}.html" in names, module
    assert any(n.endswith(".dist-info/LICENSE") for n in names)


def test_wheel_metadata(wheel):
    _, metadata, _ = wheel
    assert metadata["Version"] == imagelab.__version__
    assert metadata["License"] == "GPL-3.0-or-later"
    assert "GNU General Public License v3 or later (GPLv3+)" in \
        " ".join(metadata.get_all("Classifier"))
    assert metadata["Home-page"].startswith("https://")
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "scripts/run" in metadata.get_payload()          # the README
    requires = metadata.get_all("Requires-Dist")
    assert any(r.startswith("ruff") and 'extra == "test"' in r for r in requires)
    # pip install orange3-imagelab[cluster]; the tests need it too
    for extra in ("cluster", "test"):
        assert any(r.startswith("dask[distributed]") and f'extra == "{extra}"' in r
                   for r in requires), extra


def test_licence_is_the_gpl3_text():
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 3, 29 June 2007" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_test_extra_matches_requirements_file():
    with open(os.path.join(ROOT, "scripts", "requirements-test.txt"), encoding="utf-8") as f:
        listed = [line.split("#")[0].strip() for line in f]
    listed = [line for line in listed if line]
    assert sorted(load_setup_lists().TEST_REQUIRES) == sorted(listed), \
        "setup.py's TEST_REQUIRES and scripts/requirements-test.txt must list the same"


def test_version_is_set_in_one_place():
    assert imagelab.__version__ == load_setup_lists().version()
    hits = subprocess.run(["git", "grep", "-l", "-E", r"^\s*version\s*=\s*\"[0-9]",
                           "--", "*.py"], cwd=ROOT, capture_output=True, text=True).stdout
    assert hits.split() == [], f"a second version number in {hits.split()}"


PREVIEW_RUNNER = r'''
import os, runpy, sys, pkgutil
from AnyQt.QtWidgets import QApplication
from orangewidget.utils.widgetpreview import WidgetPreview
import orangecontrib.imagelab.widgets as widgets
assert widgets.__file__.startswith(sys.argv[1]), widgets.__file__   # the installed copy
app = QApplication.instance() or QApplication([])
run = WidgetPreview.run
previewed = []

def create_widget(self):
    self.widget = self.widget_cls()

def run_once(self, *args, **kwargs):
    kwargs.update(no_exec=True, no_exit=True)
    run(self, *args, **kwargs)
    previewed.append(type(self.widget).__name__)
    self.widget.onDeleteWidget()

WidgetPreview.create_widget = create_widget
WidgetPreview.run = run_once
names = sorted(m.name for m in pkgutil.iter_modules(widgets.__path__) if m.name.startswith("ow"))
for name in names:
    runpy.run_module(f"orangecontrib.imagelab.widgets.{name}", run_name="__main__")
assert "tests" not in sys.modules and "skimage" not in sys.modules, "test-only imports"
print("PREVIEWED", len(names), " ".join(previewed))
'''


def test_widget_previews_run_from_the_installed_wheel(wheel, tmp_path):
    """Each widget's ``python -m orangecontrib.imagelab.widgets.<module>`` preview runs
    from an installed wheel, with no test helpers or scikit-image (cwd outside the tree)."""
    _, _, wheel_path = wheel
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(target), wheel_path], check=True)
    env = dict(os.environ, PYTHONPATH=str(target), QT_QPA_PLATFORM="offscreen",
               HOME=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", PREVIEW_RUNNER, str(target)],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = [ln for ln in result.stdout.splitlines() if ln.startswith("PREVIEWED")][-1]
    count, *previewed = line.split()[1:]
    modules = [n for n in os.listdir(os.path.join(ROOT, "orangecontrib", "imagelab", "widgets"))
               if n.startswith("ow") and n.endswith(".py")]
    assert int(count) == len(modules) == len(previewed), line
