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
    return names, metadata


def test_wheel_holds_the_whole_package_and_its_help(wheel):
    names, _ = wheel
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
    _, metadata = wheel
    assert metadata["Version"] == imagelab.__version__
    assert metadata["License"] == "GPL-3.0-or-later"
    assert "GNU General Public License v3 or later (GPLv3+)" in \
        " ".join(metadata.get_all("Classifier"))
    assert metadata["Home-page"].startswith("https://")
    assert metadata["Description-Content-Type"] == "text/markdown"
    assert "scripts/run" in metadata.get_payload()          # the README
    requires = metadata.get_all("Requires-Dist")
    assert any(r.startswith("ruff") and 'extra == "test"' in r for r in requires)


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
