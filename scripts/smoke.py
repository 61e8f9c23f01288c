"""Run a workflow offscreen to completion and print what it produced.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/smoke.py WORKFLOW.ows

Exits 1 if the workflow did not finish or a widget shows an error.
"""
import sys

from AnyQt.QtWidgets import QApplication


def describe(value) -> str:
    from Orange.data import Table
    if isinstance(value, Table):
        domain = value.domain
        return (f"table, {len(value)} rows, {len(domain.attributes)} features, "
                f"class: {domain.class_var.name if domain.class_var else 'none'}, "
                f"{len(domain.metas)} metas")
    return type(value).__name__


def main(path: str) -> int:
    app = QApplication(sys.argv[:1])  # noqa: F841  (kept alive for the run)
    from orangecontrib.imagelab.tutorials.headless import run_workflow
    run = run_workflow(path)
    print(f"workflow: {path}")
    print(f"finished: {run.finished} in {run.seconds:.1f} s; widgets: {', '.join(run.widgets)}")
    for (title, channel), value in sorted(run.outputs().items()):
        print(f"  {title} -> {channel}: {describe(value)}")
    for severity in ("warning", "error"):
        for title, texts in run.messages(severity).items():
            for text in texts:
                print(f"  {severity} in {title}: {text}")
    errors = run.messages("error")
    run.close()
    return 0 if run.finished and not errors else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
