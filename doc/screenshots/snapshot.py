"""Screenshot of Snapshot with two versions of the bundled sample (offscreen).

    .venv/bin/python doc/screenshots/snapshot.py
"""
import shutil
import tempfile

from _shot import SAMPLE, application, save, wait_for_task


def main():
    from orangecontrib.imagelab import import_images
    from orangecontrib.imagelab.widgets.owsnapshot import OWSnapshot

    application()
    data = import_images(SAMPLE / "fashion" / "labelled").data
    folder = tempfile.mkdtemp(prefix="snapshots-")
    widget = OWSnapshot()
    widget.resize(1100, 520)
    widget.show()
    widget.set_folder(folder)
    wait_for_task(widget)
    widget.snapshot_name = "fashion"
    widget.set_data(data)
    widget.freeze()
    wait_for_task(widget)
    from orangecontrib.imagelab.api.snapshots import clone as clone_of
    clone = clone_of(widget._chosen_path()).copy()
    with clone.unlocked(clone.Y):
        clone.Y[:2] = 1  # two labels fixed
    widget.set_data(clone)
    widget.freeze()
    wait_for_task(widget)
    widget.verify()
    wait_for_task(widget)
    out = save(widget, "snapshot", fit=False)
    print(f"saved {out}: {widget.info_label.text()}")
    widget.onDeleteWidget()
    shutil.rmtree(folder)


if __name__ == "__main__":
    main()
