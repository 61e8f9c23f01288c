"""Run a workflow offscreen to completion and print what it produced.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/smoke.py WORKFLOW.ows

Saving widgets (auto-save is off in the tutorials) are then made to save into
a fresh temporary folder, never the folder the workflow names, and the
written folders are listed. Exits 1 if the workflow did not finish or a
widget shows an error.
"""
import os
import sys
import tempfile
import warnings
from collections import Counter

from AnyQt.QtWidgets import QApplication


def describe(value) -> str:
    from Orange.data import Table
    if hasattr(value, "get_value"):  # orangewidget's LazyValue
        value = value.get_value()
    if isinstance(value, Table):
        domain = value.domain
        return (f"table, {len(value)} rows, {len(domain.attributes)} features, "
                f"class: {domain.class_var.name if domain.class_var else 'none'}, "
                f"{len(domain.metas)} metas")
    return type(value).__name__ if value is not None else "nothing"


def print_scores(widgets) -> None:
    import Orange.evaluation
    for title, widget in widgets.items():
        for slot in getattr(widget, "learners", {}).values():
            results = getattr(getattr(slot, "results", None), "value", None)
            if results is not None and getattr(results, "domain", None) is not None:
                accuracy = Orange.evaluation.CA(results)[0]
                auc = Orange.evaluation.AUC(results)[0]
                print(f"  {title}: {slot.learner.name}: accuracy {accuracy:.3f}, AUC {auc:.3f}")


def save_into_temporary_folders(run) -> None:
    for title, widget in run.widgets.items():
        if not hasattr(widget, "target_folder") or not widget._has_input():
            continue
        widget.set_folder(tempfile.mkdtemp(prefix="imagelab-smoke-"))
        widget.commit.now()
        run.wait()
        folder = widget.target_folder()
        counts = Counter(os.path.relpath(root, folder)
                         for root, _, files in os.walk(folder)
                         for name in files if name != "manifest.csv")
        summary = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()))
        print(f"  {title} saved into {folder}: {summary or 'nothing'}")


def main(path: str) -> int:
    warnings.filterwarnings("ignore")  # library deprecation chatter, not our output
    app = QApplication(sys.argv[:1])  # noqa: F841  (kept alive for the run)
    from orangecontrib.imagelab.tutorials.headless import run_workflow
    run = run_workflow(path)
    print(f"workflow: {path}")
    print(f"finished: {run.finished} in {run.seconds:.1f} s; widgets: {', '.join(run.widgets)}")
    for (title, channel), value in sorted(run.outputs().items()):
        print(f"  {title} -> {channel}: {describe(value)}")
    print_scores(run.widgets)
    save_into_temporary_folders(run)
    for severity in ("warning", "error"):
        for title, texts in run.messages(severity).items():
            for text in texts:
                print(f"  {severity} in {title}: {text}")
    errors = run.messages("error")
    finished = run.finished
    run.close()
    return 0 if finished and not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
