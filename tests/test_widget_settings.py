"""A tampered workflow loads: unusable settings are reset to defaults, with a warning.

Every widget module in the package is covered (found on disk, not listed by
hand): each setting an Image Lab class declares gets a value of the wrong
type, and each declared range or choice a value outside it; the widget must
build, hold the defaults and name the settings in its warning.
"""
import importlib
import inspect
import math
import os
import typing

import pytest
from AnyQt.QtWidgets import QApplication
from Orange.widgets.tests import base
from orangewidget.settings import ContextSetting
from orangewidget.widget import OWBaseWidget

import orangecontrib.imagelab.widgets as widgets_package
from orangecontrib.imagelab.widgets.utils import settings as checks
from orangecontrib.imagelab.widgets.utils.settings import SettingsCheckMixin

#: Widgets not on TaskWidgetMixin/SettingsCheckMixin yet (none now); each must
#: still lack the check (see test_not_yet_checked_list_is_current).
NOT_YET_CHECKED = set()


def widget_classes():
    folder = os.path.dirname(widgets_package.__file__)
    found = {}
    for name in sorted(os.listdir(folder)):
        if name.startswith("ow") and name.endswith(".py"):
            module = importlib.import_module(f"{widgets_package.__name__}.{name[:-3]}")
            classes = [cls for cls in vars(module).values()
                       if inspect.isclass(cls) and issubclass(cls, OWBaseWidget)
                       and cls.__module__ == module.__name__ and cls.name]
            assert len(classes) == 1, (name, classes)
            found[name[:-3]] = classes[0]
    return found


WIDGETS = widget_classes()
CHECKED = {name: cls for name, cls in WIDGETS.items() if name not in NOT_YET_CHECKED}


def own_settings(cls):
    """Plain settings declared by Image Lab classes (Orange's own are Orange's business)."""
    for setting, _, _ in cls.settingsHandler.provider.traverse_settings():
        if isinstance(setting, ContextSetting):
            continue
        owner = next(klass for klass in cls.__mro__ if setting.name in vars(klass))
        if owner.__module__.startswith("orangecontrib.imagelab"):
            yield setting


def wrong_type_value(setting, hint):
    kind = hint if hint is not None else type(setting.default)
    kind = typing.get_origin(kind) or kind
    return {bool: "yes", int: "big", float: "wide", str: 12345, list: 7, dict: 3,
            tuple: 5}.get(kind, object())


def out_of_range_values(setting):
    values = {}
    if getattr(setting, "range", None) is not None:
        values["above"] = setting.range[1] + 1000
        values["below"] = setting.range[0] - 1000
        if isinstance(setting.default, float):
            values["nan"] = math.nan
    if getattr(setting, "choices", None) is not None:
        values["choice"] = "no such choice"
    return values


class TestTamperedSettings(base.WidgetTest):
    def setUp(self):
        # WidgetTest's own checks (minimum size, message groups, image export)
        # run on a widget whose settings were reset.
        self.widget = self.build(WIDGETS["owimagegrid"], {"cell_size": "big"})

    def build(self, cls, stored):
        widget = self.create_widget(cls, stored_settings=stored)
        QApplication.processEvents()
        return widget

    def assert_reset(self, widget, cls, names):
        for setting in own_settings(cls):
            if setting.name in names:
                self.assertEqual(getattr(widget, setting.name), setting.default,
                                 f"{cls.__name__}.{setting.name}")
        warning = widget.SettingsWarning.settings_reset
        self.assertTrue(warning.is_shown(), cls.__name__)
        for name in names:
            self.assertIn(f"{name}=", str(warning))
        widget.clear_messages()           # what widgets do on new input
        widget.Warning.clear()
        self.assertTrue(warning.is_shown(), "the warning stays for the session")

    def test_every_widget_resets_wrongly_typed_settings(self):
        for name, cls in CHECKED.items():
            with self.subTest(widget=name):
                hints = checks._hints(cls)
                stored = {s.name: wrong_type_value(s, hints.get(s.name))
                          for s in own_settings(cls)}
                self.assertTrue(stored, f"{name} declares no settings?")
                widget = self.build(cls, stored)
                self.assert_reset(widget, cls, stored)

    def test_every_widget_resets_values_outside_declared_limits(self):
        tried = 0
        for name, cls in CHECKED.items():
            limited = [(s, out_of_range_values(s)) for s in own_settings(cls)]
            for kind in ("above", "below", "nan", "choice"):
                stored = {s.name: values[kind] for s, values in limited if kind in values}
                if not stored:
                    continue
                with self.subTest(widget=name, kind=kind):
                    tried += 1
                    widget = self.build(cls, stored)
                    self.assert_reset(widget, cls, stored)
        self.assertGreater(tried, 4)

    def test_valid_settings_give_no_warning(self):
        for name, cls in CHECKED.items():
            with self.subTest(widget=name):
                stored = {s.name: s.default for s in own_settings(cls)}
                widget = self.build(cls, stored)
                self.assertFalse(widget.SettingsWarning.settings_reset.is_shown())
                self.assertEqual(widget.settings_rejected, [])

    def test_structured_values_are_checked_inside(self):
        grid = WIDGETS["owimagegrid"]
        widget = self.build(grid, {"selection": [[1, 2], ["x", 1]], "cell_size": 96.0})
        self.assertEqual(widget.selection, [])
        self.assertEqual(widget.cell_size, 96)          # 96.0 is an int stored as float
        self.assertIsInstance(widget.cell_size, int)
        self.assertEqual([r.name for r in widget.settings_rejected], ["selection"])
        importer = WIDGETS["owimportimages"]
        widget = self.build(importer, {"recent_paths": [["/a", None, None, 3, "", None]]})
        self.assertEqual(widget.recent_paths, [])
        self.assertTrue(widget.SettingsWarning.settings_reset.is_shown())


def test_every_widget_checks_its_settings_and_has_a_settings_version():
    for name, cls in CHECKED.items():
        assert issubclass(cls, SettingsCheckMixin), \
            f"{name}: base it on TaskWidgetMixin (or SettingsCheckMixin)"
    for name, cls in WIDGETS.items():
        if name in NOT_YET_CHECKED:
            continue
        assert any("settings_version" in vars(klass) for klass in cls.__mro__
                   if klass.__module__.startswith("orangecontrib.imagelab")), \
            f"{name}: declare settings_version"


def test_not_yet_checked_list_is_current():
    stale = [name for name in NOT_YET_CHECKED
             if name not in WIDGETS or issubclass(WIDGETS[name], SettingsCheckMixin)]
    assert not stale, f"remove {stale} from NOT_YET_CHECKED"


@pytest.mark.parametrize("value, hint, ok", [
    (True, bool, True), (1, bool, False), (3, int, True), (True, int, False),
    (2, float, True), ("a", str, True), (["a"], typing.List[str], True),
    ([1], typing.List[str], False), ([[1, 2]], typing.List[typing.List[int]], True),
    ({"a": 1}, typing.Dict[str, int], True), ({"a": "b"}, typing.Dict[str, int], False),
    (None, typing.Optional[int], True), ("x", typing.Optional[int], False),
])
def test_conforms(value, hint, ok):
    assert checks._conforms(value, hint) is ok
