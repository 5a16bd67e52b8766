"""The model card's number section: whole numbers read, and drawings on the pad that are
not numbers (``python -m worker.trainer.tools.evaluate --record`` writes both)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from worker.trainer.tools.numbers import NUMBERS_FILE

#: The number figures' readers that are not one model.
READERS = {"both": "both (the API's `text`: `shared.number_reading.part_digit`)"}


def number_rows(out: Path) -> list[str]:
    """How well whole numbers are read: segmentation (shared.segmentation) and each model."""
    path = out / NUMBERS_FILE
    if not path.exists():
        return []
    n = json.loads(path.read_text())
    lines = [
        "## Numbers",
        "",
        f"{n['numbers']:,} synthetic numbers (MNIST test digits composed 2 to 6 at a time on a "
        "3:1 canvas: uneven sizes, a sloping line, gaps from a slight overlap to wide spacing; "
        "`worker/trainer/tools/numbers.py`), read through web's segmentation "
        "(`shared/segmentation.py`, which asks a small network whether each group of strokes "
        "holds one digit or several: `shared/group_count.py`) and the worker's choice between "
        "the ways to read a group (`shared/number_reading.py`). The count of digits was right for "
        f"{n['count_accuracy']:.1%} of them.",
        "",
        "| reading | whole number right | per digit, where the count is right |",
        "|---|---|---|",
    ]
    for name, m in n["models"].items():
        lines.append(
            f"| {READERS.get(name, name)} | {m['whole_number_accuracy']:.1%} "
            f"| {m['digit_accuracy_where_count_right']:.2%} |"
        )
    return [*lines, "", *(pad_rows(n["pad"]) if "pad" in n else [])]


def pad_rows(pad: dict[str, Any]) -> list[str]:
    """The pad's "not a number" rule (``shared.number_reading.answer``) on held-out drawings."""
    n = pad["numbers"]
    kinds = ", ".join(f"{kind} {share:.0%}" for kind, share in pad["by_kind"].items())
    return [
        f"On the number pad, {pad['drawings']:,} held-out drawings that are not numbers "
        "(`worker/trainer/tools/pad_drawings.py`: words of letters, shapes and scribbles side "
        "by side, arrows, waves) and the numbers above, read by both models and the rule "
        "`shared.number_reading.answer` (a number when both models read the whole canvas "
        f"as a digit, or its parts read on average at least {pad['number_sure']:g} sure):",
        "",
        '| drawings that are not numbers answered "not a number" | numbers refused '
        "| whole number right | single digits refused |",
        "|---|---|---|---|",
        f"| {pad['not_a_number']:.1%} | {n['refused']:.1%} | {n['right']:.1%} "
        f"| {pad['single_digits']['refused']:.1%} |",
        "",
        f"By kind: {kinds}.",
        "",
    ]


def number_lines(n: dict[str, Any]) -> list[str]:
    """The number figures (``number_scores.number_figures``) as ``evaluate`` prints them."""
    wrong = n["wrong_count"]
    lines = [
        f"{n['numbers']} synthetic numbers of 2-6 digits: count of digits right "
        f"{n['count_accuracy']:.2%}",
        f"    count wrong: too few digits {wrong['too_few']}, too many {wrong['too_many']}, "
        f"canvas refused {wrong['unread']}",
    ]
    for name, m in n["models"].items():
        wrong = m["count_right_but_wrong"]
        lines += [
            f"{name}: whole number {m['whole_number_accuracy']:.2%}  per digit where the "
            f"count is right {m['digit_accuracy_where_count_right']:.2%}",
            f"    count right but wrong: a part refused {wrong['a_part_refused']}, "
            f"a digit misread {wrong['misread']}",
        ]
    return lines
