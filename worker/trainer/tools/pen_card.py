"""The model card's real-pen section: where the pen data comes from, how its writers are
split, and the figures ``evaluate --unipen DIR --record`` keeps in ``real_pens.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.names import MODEL_NAMES
from worker.trainer.tools.pen_figures import PENS_FILE
from worker.trainer.tools.real_pens import DEV_SHARE, LICENSE, SOURCE


def pen_rows(out: Path) -> list[str]:
    """The section, from the metrics files and ``PENS_FILE`` in ``out``."""
    trained = {
        name: json.loads(path.read_text())["data"].get("real_pens")
        for name in MODEL_NAMES
        if (path := out / f"{name}.metrics.json").exists()
    }
    lines = [
        "",
        "## Real pens",
        "",
        f"Source: {SOURCE}. Licence: {LICENSE}. On-line handwriting recorded on tablets by "
        "sites in the USA and Europe, pen-ups kept (`worker/trainer/unipen.py` reads it; "
        "`tests/data/unipen` is a small sample of it, in its layout). Writers are split once "
        f"by a hash of their names: {DEV_SHARE:.0%} form the development family, the rest "
        "the training family (`worker/trainer/tools/real_pens.py`); no writer is in both. "
        "Each character is drawn on the Collect page's 280x280 pad as the page records a "
        "pointer, and into the 28x28 image web's stroke path makes.",
        "",
    ]
    for name, record in trained.items():
        lines.append(f"- {name}: {_fitted(record)}")
    return [*lines, "", *_figure_rows(out)]


def _fitted(record: dict[str, Any] | None) -> str:
    if not record:
        return "trained on no real pens."
    return (
        f"fitted {record['digits']:,} digits of {record['writers']} training writers, each "
        f"drawn {record['drawn_times']} times, and {record.get('not_digits', 0):,} of their letters "
        "and marks as *not a digit* (the Hershey negatives' characters, less the handwritten "
        "a, f and t)."
    )


def _figure_rows(out: Path) -> list[str]:
    """The development family's figures, if measured."""
    path = out / PENS_FILE
    if not path.exists():
        return ["No real-pen figures recorded: `make evaluate` with `UNIPEN_PATH` set.", ""]
    f = json.loads(path.read_text())
    lines = [
        f"Measured on the development family ({f['digits']:,} digits and {f['not_digits']:,} "
        f"letters and marks of {f['writers']} writers no model trained on, and no choice was "
        "made on) by `UNIPEN_PATH=DIR MNIST_PATH=mnist.npz make evaluate` "
        "(`python -m worker.trainer.tools.pen_figures --unipen DIR` alone):",
        "",
        "| model | digits right (a refusal is an error) | digits refused | letters and marks "
        "refused | top confusions |",
        "|---|---|---|---|---|",
    ]
    for name, m in f["models"].items():
        confused = ", ".join(f"{k} ×{v}" for k, v in m["top_confusions"].items())
        lines.append(
            f"| {name} | {m['accuracy']:.2%} | {m['refused']:.2%} "
            f"| {m['not_digits_refused']:.1%} | {confused} |"
        )
    return [*lines, ""]
