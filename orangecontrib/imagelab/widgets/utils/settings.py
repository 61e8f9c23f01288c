"""Settings from a workflow file are checked before a widget builds its controls.

A ``.ows`` file is text a user (or a tool) can edit: ``cell_size = "big"`` or
``threshold = 250`` would otherwise reach the constructor and end in a
``TypeError`` there, and the node would not open at all. ``check_settings``
compares each ``Setting``'s value with the type its widget declares for it
(the class annotation, ``cell_size: int = Setting(96)``; without one, the
default's type) and with the limits the ``Setting`` declares:

- ``range=(low, high)``: numbers outside it (or NaN) are rejected;
- ``choices=(...)``: values not in it are rejected;
- ``check=callable``: a value for which it returns False is rejected.

A rejected value is replaced by the default and named in a warning
(``SettingsCheckMixin.SettingsWarning``) that stays for the session:
``clear_messages()`` in a widget's input handler does not hide it, and it is
gone when the workflow is saved again (with the default). ``TaskWidgetMixin``
runs the check in its ``__init__``, so every widget on it gets it; a widget
without background jobs inherits ``SettingsCheckMixin`` and calls its
``__init__`` right after ``OWWidget.__init__``, before building controls.

Context settings (chosen columns) are not checked here: their values only
apply when a context matches the input's columns, which already rules out
names that are not there.
"""
import copy
import logging
import math
import typing
from typing import Any, List, NamedTuple

from orangewidget.settings import ContextSetting, Setting
from orangewidget.utils.messages import UnboundMsg, WidgetMessagesMixin

__all__ = ["SettingsCheckMixin", "check_settings", "Rejected"]

log = logging.getLogger(__name__)


class Rejected(NamedTuple):
    """A setting whose stored value was replaced by its default, and why."""
    name: str
    value: Any
    why: str

    def __str__(self):
        shown = repr(self.value)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return f"{self.name}={shown} ({self.why})"


def _type_name(hint) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _conforms(value, hint) -> bool:
    """Whether ``value`` is of the annotated type ``hint`` (typing generics included)."""
    if hint is Any or hint is object:
        return True
    if hint is None or hint is type(None):
        return value is None
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union:
        return any(_conforms(value, arg) for arg in args)
    if origin in (list, set, frozenset):
        return isinstance(value, origin) and \
            (not args or all(_conforms(item, args[0]) for item in value))
    if origin is tuple:
        if not isinstance(value, tuple):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_conforms(item, args[0]) for item in value)
        return not args or (len(args) == len(value) and
                            all(_conforms(v, a) for v, a in zip(value, args)))
    if origin is dict:
        return isinstance(value, dict) and (not args or all(
            _conforms(k, args[0]) and _conforms(v, args[1]) for k, v in value.items()))
    if origin is not None:                 # another generic: check the container only
        return isinstance(value, origin)
    if hint is bool:
        return type(value) is bool
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True                            # a forward reference or the like: trust it


def _coerced(value, hint):
    """A lossless fix for a number stored as the other kind (96.0 for an int)."""
    if hint is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _hints(cls) -> dict:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001  an unresolvable annotation: fall back to defaults
        hints = {}
        for klass in reversed(cls.__mro__):
            hints.update(getattr(klass, "__annotations__", {}))
        return {name: hint for name, hint in hints.items() if not isinstance(hint, str)}


def _problem(setting: Setting, value, hint):
    """Why ``value`` cannot be used for ``setting`` (None if it can), and the value to use."""
    if hint is None:
        default = setting.default
        if default is None:
            return None, value           # nothing to compare with
        hint = float if isinstance(default, float) else type(default)
    value = _coerced(value, hint)
    if not _conforms(value, hint):
        return f"expected {_type_name(hint)}, got {type(value).__name__}", value
    limits = getattr(setting, "range", None)
    if limits is not None and isinstance(value, (int, float)):
        low, high = limits
        if isinstance(value, float) and math.isnan(value) or not low <= value <= high:
            return f"outside {low}–{high}", value
    choices = getattr(setting, "choices", None)
    if choices is not None and value not in choices:
        return f"not one of {', '.join(map(repr, choices))}", value
    check = getattr(setting, "check", None)
    if check is not None:
        try:
            ok = check(value)
        except Exception:  # noqa: BLE001  a check that fails on odd input rejects it
            ok = False
        if not ok:
            return "not a valid value", value
    return None, value


def check_settings(widget) -> List[Rejected]:
    """Replace each unusable setting of ``widget`` by its default; return what was replaced.

    Checks the widget's own settings and those of its settings components;
    context settings are left to their context handler (see the module docstring).
    """
    handler = getattr(widget, "settingsHandler", None)
    if handler is None or handler.provider is None:
        return []
    rejected = []
    hints_of = {}
    for setting, _, instance in handler.provider.traverse_settings(instance=widget):
        if instance is None or isinstance(setting, ContextSetting) or \
                not hasattr(instance, setting.name):
            continue
        cls = type(instance)
        if cls not in hints_of:
            hints_of[cls] = _hints(cls)
        value = getattr(instance, setting.name)
        why, fixed = _problem(setting, value, hints_of[cls].get(setting.name))
        if why is None:
            if fixed is not value:
                setattr(instance, setting.name, fixed)
            continue
        setattr(instance, setting.name, copy.deepcopy(setting.default))
        rejected.append(Rejected(setting.name, value, why))
        log.warning("%s: setting %s reset to its default", type(widget).__name__,
                    rejected[-1])
    return rejected


class _SessionWarning(WidgetMessagesMixin.Warning):
    """Warnings that ``clear_messages()`` and ``Warning.clear()`` leave alone."""

    def clear(self=None, *, owner=None):  # pylint: disable=arguments-differ
        pass


class SettingsCheckMixin:
    """Checks the widget's settings (``check_settings``) and warns about the reset ones.

    Call ``SettingsCheckMixin.__init__(self)`` right after ``OWWidget.__init__``
    (``TaskWidgetMixin.__init__`` does), before any control reads a setting.
    """

    class SettingsWarning(_SessionWarning):
        settings_reset = UnboundMsg(
            "Settings from the workflow reset to their defaults: {}.")

    def __init__(self):
        self.settings_rejected = check_settings(self)
        if self.settings_rejected:
            self.SettingsWarning.settings_reset(
                "; ".join(map(str, self.settings_rejected)))
