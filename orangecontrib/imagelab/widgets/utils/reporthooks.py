"""Test and Score's report names the snapshot version its data came from.

Orange's Test and Score reports its sampling and scores but nothing about its
data, so a report alone cannot tell which images a score was measured on.
The least intrusive fix found: add, after Test and Score's own report, one
line "Data: <name> @ <version>" when (and only when) its data carries a
snapshot mark (``tables.snapshot_info``); and name the version in the report
item's title through ``get_widget_name_extension``, which Test and Score does
not define. Nothing else of Test and Score changes; installing twice is a no-op.
"""
from orangecontrib.imagelab import tables

_INSTALLED = "_imagelab_snapshot_report"


def snapshot_text(data) -> str:
    info = tables.snapshot_info(data)
    if not info:
        return ""
    return f"{info.get('name', 'snapshot')} @ {info.get('version', '?')}"


def install_test_and_score_hook() -> bool:
    """Add the snapshot line to Test and Score's report; False if not possible."""
    try:
        from Orange.widgets.evaluate.owtestandscore import OWTestAndScore
    except ImportError:  # pragma: no cover - Orange without the evaluate widgets
        return False
    if getattr(OWTestAndScore, _INSTALLED, False):
        return True
    original_report = OWTestAndScore.send_report
    original_extension = OWTestAndScore.get_widget_name_extension

    def send_report(self):
        original_report(self)
        text = snapshot_text(getattr(self, "data", None))
        if text and self.learners:
            self.report_items("Data", [("Snapshot", text)])

    def get_widget_name_extension(self):
        return snapshot_text(getattr(self, "data", None)) or original_extension(self)

    OWTestAndScore.send_report = send_report
    OWTestAndScore.get_widget_name_extension = get_widget_name_extension
    setattr(OWTestAndScore, _INSTALLED, True)
    return True
