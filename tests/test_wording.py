"""One word for what is left out: "skipped" (see doc/index.md, "Words used throughout").

Skipped: could not be used, or an option left it out, named with its reason.
Rejected: looked at and judged (Image Labels, Predictions to Folders). The
texts users read (widget strings and the docs) must not say "left out" or
"dropped" for either.
"""
import ast
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WIDGETS = os.path.join(ROOT, "orangecontrib", "imagelab", "widgets")
DOC = os.path.join(ROOT, "doc")
OTHER_WORDS = re.compile(r"\b(left out|leaves? out|dropped)\b", re.I)

#: Predictions to Folders (engineer "save") says "left out" for its rejected rows.
NOT_YET = {"owpredictionstofolders.py", "predictionstofolders.md"}


def widget_strings(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


def test_widgets_and_docs_say_skipped():
    found = []
    for root, _, files in os.walk(WIDGETS):
        for name in files:
            if name.endswith(".py") and name not in NOT_YET:
                path = os.path.join(root, name)
                found += [f"{os.path.relpath(path, ROOT)}:{line}: {text!r}"
                          for line, text in widget_strings(path) if OTHER_WORDS.search(text)]
    for root, dirs, files in os.walk(DOC):
        dirs[:] = [d for d in dirs if d not in ("_build", "screenshots")]
        for name in files:
            if name.endswith(".md") and name not in NOT_YET:
                path = os.path.join(root, name)
                with open(path, encoding="utf-8") as f:
                    found += [f"{os.path.relpath(path, ROOT)}:{i}: {line.strip()}"
                              for i, line in enumerate(f, 1) if OTHER_WORDS.search(line)]
    assert not found, "say 'skipped' (or 'rejected' for a judged item):\n" + "\n".join(found)


def test_the_exception_list_is_current():
    stale = []
    for name in NOT_YET:
        folder = WIDGETS if name.endswith(".py") else os.path.join(DOC, "widgets")
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            if not OTHER_WORDS.search(f.read()):
                stale.append(name)
    assert not stale, f"remove {stale} from NOT_YET"
