"""Real pens: the isolated characters of UNIPEN's train_r01_v07, with their strokes.

UNIPEN (Guyon, Schomaker, Plamondon, Liberman, Janet, 1994) gathered on-line handwriting
from about 40 sites in the USA and Europe: pen trajectories as tablets recorded them,
pen-ups kept. The distribution is on Zenodo under CC BY 4.0
(https://doi.org/10.5281/zenodo.1195803); a checkout of it (a folder with ``data/1a`` and
``include``) is read from ``UNIPEN_PATH`` or ``--unipen``; the project does not need it to
run or test (``tests/data/unipen`` is a small sample in the same layout).

Categories: ``1a`` digits, ``1b`` upper case, ``1c`` lower case, ``1d`` symbols. A
``data/<category>`` file names the data file it segments (``.INCLUDE``) and, for each digit,
the pen-down components it is drawn with (``.SEGMENT CHARACTER 169-170 ? "5"``). The
components are the file's ``.PEN_DOWN`` blocks, numbered from 0 in the order written;
``.PEN_UP`` blocks carry no ink and no number. Every site read here counts y upwards, as
tablets do: each digit is turned so that y grows downwards, as on a canvas. Checked by
reading each site's digits both ways with the shipped CNN (the 2026-12-07 models: 92 %
turned, 31 % as recorded). Only the sites checked so are read (``SITES``): four small
ones number their components otherwise (cea, ceb, pri, tos: 420 digits, read at 0-4 %
either way), and the sites with letters but no digits were never checked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Sites whose digits read right by this numbering, turned (see above).
SITES = frozenset("aga apa apb app art ced gmd ibm imp lou syn uqb val".split())
DIGITS = "0123456789"
_SEGMENT = re.compile(r'^\.SEGMENT\s+CHARACTER\s+(\S+)\s+(\S+)\s+"(.)"')


@dataclass(frozen=True)
class PenCharacter:
    """One character as a tablet recorded it: its strokes (x, y; y downwards), its writer."""

    char: str
    strokes: list[np.ndarray]
    writer: str
    site: str

    @property
    def label(self) -> int:
        """A digit's value."""
        return int(self.char)


def read_unipen(root: Path, category: str = "1a", keep: str = DIGITS) -> list[PenCharacter]:
    """Every character in ``keep`` of ``root/data/<category>``, in file order (sorted)."""
    found: list[PenCharacter] = []
    for segments in sorted((root / "data" / category).rglob("*.dat")):
        site = segments.relative_to(root / "data" / category).parts[0]
        if site in SITES:
            found.extend(_file_characters(root, segments, site, keep))
    return found


def _file_characters(root: Path, segments: Path, site: str, keep: str) -> list[PenCharacter]:
    """The characters one segmentation file names, drawn from the data file it includes."""
    text = segments.read_text(encoding="latin-1")
    included = [line.split()[1] for line in text.splitlines() if line.startswith(".INCLUDE")]
    data = [root / "include" / name for name in included if "/data/" in name]
    if not data or not data[0].is_file():
        return []
    components, writer = read_components(data[0])
    writer = f"{site}/{writer or segments.stem}"
    found = []
    for line in text.splitlines():
        match = _SEGMENT.match(line)
        if match is None or match.group(3) not in keep or match.group(2).upper() == "BAD":
            continue
        picked = [components[i] for i in _indices(match.group(1)) if i < len(components)]
        strokes = [s for s in picked if len(s)]
        if strokes:
            turned = [s * (1.0, -1.0) for s in strokes]
            found.append(PenCharacter(match.group(3), turned, writer, site))
    return found


def _indices(spec: str) -> list[int]:
    """Component numbers of a segment: "7", "169-170", "3,5", "12:0-13:40" (point ranges)."""
    numbers: list[int] = []
    for part in spec.split(","):
        ends = [int(end.split(":")[0]) for end in part.split("-") if end.split(":")[0].isdigit()]
        if ends:
            numbers.extend(range(ends[0], ends[-1] + 1))
    return numbers


def read_components(path: Path) -> tuple[list[np.ndarray], str]:
    """A data file's pen-down components (x, y as float arrays) and its ``.WRITER_ID``."""
    components: list[np.ndarray] = []
    writer = ""
    points: list[list[float]] | None = None
    for line in path.read_text(encoding="latin-1").splitlines():
        if line.startswith("."):
            if points is not None:
                components.append(np.asarray(points, dtype=np.float64).reshape(-1, 2))
            words = line.split()
            points = [] if words[0] == ".PEN_DOWN" else None
            if words[0] == ".WRITER_ID" and len(words) > 1 and not writer:
                writer = words[1]
        elif points is not None:
            values = line.split()
            if len(values) >= 2:
                points.append([float(values[0]), float(values[1])])
    if points is not None:
        components.append(np.asarray(points, dtype=np.float64).reshape(-1, 2))
    return components, writer
