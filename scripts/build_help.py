#!/usr/bin/env python3
"""Build the widgets' help pages (Sphinx HTML) into the package, for F1 offline.

    python scripts/build_help.py           # build if doc/ changed since the last build
    python scripts/build_help.py --force   # build anyway
    python scripts/build_help.py --out DIR # build into DIR (e.g. a wheel's build folder)

The canvas's help provider (the ``orange.canvas.help`` entry point,
``html-index`` = ``orangecontrib.imagelab.widgets.WIDGET_HELP_PATH``) reads
``orangecontrib/imagelab/help/index.html`` and finds each widget's page by its
title in the list with ``id="widgets"`` (the widgets' toctree in
``doc/index.md``; ``doc/conf.py`` appends every ``doc/widgets/<name>.md`` it
does not list, so a new page whose title is the widget's name is picked up
without further changes). ``scripts/setup-env`` (hence ``scripts/run`` and
``scripts/test``) calls this, and ``setup.py``'s ``build_py`` does when it
builds a wheel, so the pages ship inside the package: nothing is fetched
from the internet. Needs ``sphinx`` and ``myst-parser`` (the ``doc`` extra).
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "doc")
HELP = os.path.join(ROOT, "orangecontrib", "imagelab", "help")
#: Written last into a finished build; holds the sources' fingerprint.
STAMP = ".imagelab-help"
IGNORED_DIRS = {"_build", "screenshots", "__pycache__"}


def sources_fingerprint(doc: str = DOC) -> str:
    """Names, sizes and modification times of the files Sphinx reads."""
    entries = []
    for root, dirs, files in os.walk(doc):
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in sorted(files):
            stat = os.stat(os.path.join(root, name))
            entries.append(f"{os.path.relpath(os.path.join(root, name), doc)}"
                           f":{stat.st_size}:{stat.st_mtime_ns}")
    return "\n".join(entries)


def is_current(out: str = HELP, doc: str = DOC) -> bool:
    try:
        with open(os.path.join(out, STAMP), encoding="utf-8") as f:
            return f.read() == sources_fingerprint(doc)
    except OSError:
        return False


def build(out: str = HELP, doc: str = DOC, *, force: bool = False, quiet: bool = True) -> bool:
    """Build the HTML help into ``out`` unless it is current; True if it built.

    The pages are built into a temporary folder next to ``out`` and moved
    into place, so a failed or interrupted build never leaves half a help.
    """
    if not force and is_current(out, doc):
        return False
    fingerprint = sources_fingerprint(doc)
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    work = tempfile.mkdtemp(prefix=".help-build-", dir=parent)
    try:
        html = os.path.join(work, "html")
        command = [sys.executable, "-m", "sphinx", "-b", "html",
                   "-d", os.path.join(work, "doctrees"), doc, html]
        if quiet:
            command.insert(3, "-q")
        subprocess.run(command, check=True)
        with open(os.path.join(html, STAMP), "w", encoding="utf-8") as f:
            f.write(fingerprint)
        old = None
        if os.path.exists(out):
            old = os.path.join(work, "old")
            os.rename(out, old)
        os.rename(html, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="build even if current")
    parser.add_argument("--out", default=HELP, help=f"output folder (default: {HELP})")
    args = parser.parse_args(argv)
    try:
        import sphinx  # noqa: F401
        import myst_parser  # noqa: F401
    except ImportError as err:
        sys.exit(f"build_help: {err.name} is not installed; install the doc extra: "
                 f"pip install -e '.[doc]'")
    built = build(args.out, force=args.force)
    print(f"build_help: {'built' if built else 'up to date:'} {args.out}")


if __name__ == "__main__":
    main()
