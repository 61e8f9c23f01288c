"""Tutorial notes never cover a node or its caption, measured from the .ows files.

Geometry of orange-canvas-core's node item: the icon is a 48-pixel disc with
input/output "ears" out to 31 pixels from the node's position; the caption is
centred under it from 33 pixels down, one line for the title and one for a
status or progress line ("Arranging images …", "45%"). Text is measured with
generous average widths (the canvas font is about 12 px; notes are estimated
with 7 px a character and 18 px a line), so a note that passes here does not
touch a caption on screen.
"""
import ast
import math
import os
import xml.etree.ElementTree as ET

import pytest

from orangecontrib.imagelab.tutorials import headless

CHAR, LINE, PAD = 7.0, 18.0, 8.0


def node_box(title, x, y):
    """(left, top, right, bottom) of a node's icon and caption."""
    half = max(31.0, (len(title) * CHAR + 10) / 2)
    return x - half, y - 31, x + half, y + 33 + 2 * LINE


def note_box(text, x, y, width, height):
    """(left, top, right, bottom) of a note: its rect, or more if the text wraps longer."""
    per_line = max(1, int((width - PAD) // CHAR))
    lines = sum(max(1, math.ceil(len(part) * 1.1 / per_line)) for part in text.split("\n"))
    return x, y, x + width, y + max(height, lines * LINE + PAD)


def overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def layout(path):
    root = ET.parse(path).getroot()
    nodes = [(n.get("title"), *ast.literal_eval(n.get("position")))
             for n in root.iter("node")]
    notes = [(t.text or "", *ast.literal_eval(t.get("rect"))) for t in root.iter("text")]
    return nodes, notes


@pytest.mark.parametrize("path", headless.tutorial_paths(), ids=os.path.basename)
def test_notes_do_not_cover_nodes_or_captions(path):
    nodes, notes = layout(path)
    assert nodes and notes
    clashes = []
    for text, *rect in notes:
        box = note_box(text, *rect)
        clashes += [f"note {text[:30]!r}… covers {title!r}" for title, x, y in nodes
                    if overlap(box, node_box(title, x, y))]
    for i, (text, *rect) in enumerate(notes):
        for other, *rect2 in notes[i + 1:]:
            if overlap(note_box(text, *rect), note_box(other, *rect2)):
                clashes.append(f"notes {text[:20]!r}… and {other[:20]!r}… overlap")
    assert not clashes, "\n".join(clashes)


def test_the_geometry_catches_a_clash():
    assert overlap(note_box("x" * 80, 330, 330, 300, 100), node_box("Image Viewer", 460, 300))
    assert not overlap(note_box("short", 20, 20, 300, 60), node_box("Import Images", 80, 200))
