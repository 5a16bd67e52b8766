"""Write the small UNIPEN sample the tests read: ``python scripts/unipen_sample.py DIR``.

From a train_r01_v07 checkout ``DIR``, one writer of each of ``SITES``, all in the
development family (``worker.trainer.tools.real_pens``): their first ``PER_WRITER`` digits
and their first ``PER_WRITER`` letters and marks of each category of ``real_pens.NOT_DIGITS``,
kept in UNIPEN's layout (a ``data/<category>`` segmentation file per writer and the data
file they include) with only those characters' pen-down components, numbered again from 0.
The points are the recorded ones, unchanged. Written to ``tests/data/unipen``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.trainer.tools.real_pens import NOT_DIGITS, is_dev_writer  # noqa: E402
from worker.trainer.unipen import PenCharacter, read_unipen  # noqa: E402

OUT = ROOT / "tests" / "data" / "unipen"
SITES = ("apb", "ced", "gmd", "ibm", "syn", "uqb", "app", "imp")
PER_WRITER = 25


Picked = dict[str, dict[str, list[PenCharacter]]]


def picked(root: Path) -> Picked:
    """Per writer (the first development writer of each site) and category, the first
    PER_WRITER characters."""
    chosen: Picked = {}
    for digit in read_unipen(root):
        if digit.site not in SITES or not is_dev_writer(digit.writer):
            continue
        if digit.site not in {w.split("/")[0] for w in chosen}:
            chosen[digit.writer] = {"1a": []}
        if digit.writer in chosen and len(chosen[digit.writer]["1a"]) < PER_WRITER:
            chosen[digit.writer]["1a"].append(digit)
    for category, keep in NOT_DIGITS.items():
        for character in read_unipen(root, category, keep):
            mine = chosen.get(character.writer, {}).setdefault(category, [])
            if character.writer in chosen and len(mine) < PER_WRITER:
                mine.append(character)
    return chosen


def write(writer: str, categories: dict[str, list[PenCharacter]]) -> None:
    """One writer's segmentation files and data file (y as recorded: upwards)."""
    site, name = writer.split("/", 1)
    stem = name.replace("/", "_")
    data, at = [f".WRITER_ID {name}", ".COORD X Y"], 0
    header = [".VERSION 1.0", f".INCLUDE {site}/data/{stem}.dat"]
    for category, characters in categories.items():
        segments = []
        for character in characters:
            for stroke in character.strokes:
                data += [".PEN_DOWN", *(f"{x:g} {-y:g}" for x, y in stroke), ".PEN_UP"]
            last = at + len(character.strokes) - 1
            span = f"{at}" if last == at else f"{at}-{last}"
            segments.append(f'.SEGMENT CHARACTER {span} ? "{character.char}"')
            at = last + 1
        seg_path = OUT / "data" / category / site / f"{stem}.dat"
        seg_path.parent.mkdir(parents=True, exist_ok=True)
        seg_path.write_text("\n".join(header + segments) + "\n")
    data_path = OUT / "include" / site / "data" / f"{stem}.dat"
    data_path.parent.mkdir(parents=True, exist_ok=True)
    data_path.write_text("\n".join(data) + "\n")


def main() -> int:
    for writer, categories in picked(Path(sys.argv[1])).items():
        write(writer, categories)
        counts = {c: len(found) for c, found in categories.items()}
        print(f"{writer}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
