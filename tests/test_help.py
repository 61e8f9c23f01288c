"""F1 in the canvas opens each widget's page from the installed package, offline.

The canvas's own help machinery is asked, as the canvas asks it: the widgets
are discovered from our ``orange.widgets`` entry point, and ``HelpManager``
gets the provider from our ``orange.canvas.help`` entry point.
"""
import importlib.metadata
import importlib.util
import os

from orangecanvas.help.manager import HelpManager
from orangecanvas.registry import WidgetRegistry
from orangewidget.workflow.discovery import WidgetDiscovery

import orangecontrib.imagelab.widgets as widgets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC_WIDGETS = os.path.join(ROOT, "doc", "widgets")


def load_build_help():
    spec = importlib.util.spec_from_file_location(
        "build_help", os.path.join(ROOT, "scripts", "build_help.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def widget_module_names():
    """Every ``ow*.py`` in the widgets package (a new widget is covered at once)."""
    folder = os.path.dirname(widgets.__file__)
    return sorted(name[:-3] for name in os.listdir(folder)
                  if name.startswith("ow") and name.endswith(".py"))


def discovered_widgets():
    """Our widgets as the canvas registers them (with their distribution's name)."""
    entry_point, = [ep for ep in importlib.metadata.entry_points(group="orange.widgets")
                    if ep.value == "orangecontrib.imagelab.widgets"]
    registry = WidgetRegistry()
    WidgetDiscovery(registry).run([entry_point])
    return registry


def test_f1_finds_a_local_page_for_every_widget():
    build_help = load_build_help()
    build_help.build()   # what scripts/setup-env does; quick when current
    assert build_help.is_current()
    registry = discovered_widgets()
    descriptions = registry.widgets()
    found = sorted(desc.qualified_name.split(".")[-2] for desc in descriptions)
    assert found == widget_module_names(), \
        "a widget module failed to load in the canvas's discovery"

    manager = HelpManager()
    manager.set_registry(registry)
    missing = []
    for desc in descriptions:
        try:
            url = manager.search({"id": desc.qualified_name})
        except KeyError:
            missing.append(f"{desc.name}: no entry in the help index (the page's title must "
                           f"be the widget's name, '# {desc.name}')")
            continue
        assert url.isLocalFile(), f"{desc.name}: help at {url.toString()}, not a local file"
        path = url.toLocalFile()
        assert os.path.isfile(path), path
        assert path.startswith(os.path.dirname(widgets.HELP_INDEX) + os.sep), path
        with open(path, encoding="utf-8") as f:
            assert f"<h1>{desc.name}" in f.read(), path
    assert not missing, missing


def test_every_widget_module_has_a_doc_page():
    pages = {name[:-3] for name in os.listdir(DOC_WIDGETS) if name.endswith(".md")}
    missing = [f"doc/widgets/{module[2:]}.md" for module in widget_module_names()
               if module[2:] not in pages]
    assert not missing, f"write the help pages {missing} (see doc/widgets/imagegrid.md)"


def test_a_new_page_is_listed_in_the_help_index(tmp_path):
    """A page added under doc/widgets/ reaches the list the canvas reads,
    without touching index.md."""
    import shutil
    doc = tmp_path / "doc"
    shutil.copytree(os.path.join(ROOT, "doc"), doc,
                    ignore=shutil.ignore_patterns("_build", "screenshots"))
    (doc / "widgets" / "zzprobe.md").write_text("# Probe Widget\n\nA page.\n")
    out = tmp_path / "help"
    load_build_help().build(str(out), str(doc))
    from orangecanvas.help.provider import HtmlIndexProvider
    provider = HtmlIndexProvider(str(out / "index.html"))
    assert provider.items["probe widget"] == "widgets/zzprobe.html"
    assert provider.items["image grid"] == "widgets/imagegrid.html"
