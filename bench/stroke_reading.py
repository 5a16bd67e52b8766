"""CPU to read the page's drawings from their strokes, in one process: web's largest cost.

``python -m bench.stroke_reading [--rounds 20] [--repeats 3]``

Reads each of the bench's page requests (``bench.page_drawings``: 48 drawings, half single
digits, half numbers of 2-5 digits) as web does once they are checked
(``shared.stroke_canvas.stroke_canvas``), ``--rounds`` times over, and prints the CPU time
a drawing took in the fastest round of each repeat. No server, no sockets: the figure
moves with the code that reads strokes, not with gunicorn, Flask or the machine's other
load as much as ``make bench``'s does, so two versions of the code can be told apart on a
noisy machine (run each in turn).
"""

from __future__ import annotations

import argparse
import time

from bench.page_drawings import page_requests
from bench.report import say
from shared.imaging import MAX_DIGITS, decode_data_url, open_png
from shared.stroke_canvas import Strokes, stroke_canvas

#: Bytes a PNG may hold here: the bench's are about 10 KB.
MAX_PNG = 1 << 22


def drawings() -> list[tuple[Strokes, int, int]]:
    """The page's requests as ``stroke_canvas`` takes them: strokes, width, height."""
    found = []
    for body in page_requests():
        width, height = open_png(decode_data_url(body["image"], MAX_PNG), 4096).size
        found.append((body["strokes"], width, height))
    return found


def fastest_round(read: list[tuple[Strokes, int, int]], rounds: int) -> float:
    """The least CPU time (ms) a drawing took, over ``rounds`` rounds of all of them."""
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for strokes, width, height in read:
            stroke_canvas(strokes, width, height, MAX_DIGITS, True)
        best = min(best, time.process_time() - started)
    return 1000 * best / len(read)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    read = drawings()
    figures = [fastest_round(read, args.rounds) for _ in range(args.repeats)]
    say(
        f"reading {len(read)} page drawings from their strokes: "
        + ", ".join(f"{ms:.3f}" for ms in figures)
        + " ms of CPU a drawing (fastest round of each repeat)"
    )


if __name__ == "__main__":
    main()
