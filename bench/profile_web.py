"""Where web's CPU goes on the page's requests: py-spy on gunicorn web at 32 clients.

``python -m bench.profile_web [--clients 32] [--duration 12] [--top 40]``

Starts the bench's stack (valkey, gunicorn web with 2 gevent processes, a predict worker;
``bench.stack``), sends the page's requests (``bench.page_drawings``) closed-loop, and
samples each web process with py-spy (the ``bench`` extra; it attaches by ptrace, so it
needs root or ``kernel.yama.ptrace_scope`` 0) at 200 Hz while the load runs. It prints
web's CPU per prediction as the load measured it (py-spy's sampling adds a few per cent)
and the share of the samples in which each function was on the stack (inclusive) or on
top (self), over both processes: the frames to cut for issue 40's web CPU target.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import capacity, load, stack
from bench.page_drawings import page_requests
from bench.report import say
from tests import processes

RATE = 200
#: A frame as py-spy writes it, "function (file:line)": the line is dropped.
LINE = re.compile(r":\d+\)$")


def main() -> None:
    args = parse_args()
    work = Path(tempfile.mkdtemp(prefix="digits-profile-"))
    try:
        stacks = profile(work, args.clients, args.duration)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    inclusive, self_, total = shares(stacks)
    say(f"{total} samples with the GIL held, both web processes")
    for title, counts in (("inclusive", inclusive), ("self", self_)):
        say(f"-- {title}: share of samples, function (file)")
        for frame, count in counts.most_common(args.top):
            say(f"{100 * count / total:5.1f} % {frame}")


def profile(work: Path, clients: int, duration: float) -> list[str]:
    """Run the load with py-spy on each web process; py-spy's collapsed stacks."""
    requests = page_requests()
    with stack.running(work, "") as running:
        web = running.start_web()
        stack.first_answer(f"{running.web_url}/healthz", web)
        running.start_worker(requests[0]["image"], "threads", 8, "worker.log")
        load.warm("async", running.web_url, requests)
        children = [pid for pid in processes.process_tree(web.pid) if pid != web.pid]
        spies = [spy(pid, duration + 2, work / f"web-{pid}.txt") for pid in children]
        pids = {kind: running.procs[kind].pid for kind in capacity.KINDS["digits"]}
        row = capacity.metered(
            pids, lambda: load.run_load("async", running.web_url, requests, clients, duration)
        )
        for process in spies:
            process.wait(timeout=duration + 60)
    cpu = row["cpu_ms_per_prediction"]
    say(
        f"{clients} clients, {duration:g} s: {row['throughput_per_s']:.0f} a second, "
        f"web {cpu['web']:.2f} ms + worker {cpu['worker']:.2f} ms a prediction"
    )
    return [line for pid in children for line in (work / f"web-{pid}.txt").read_text().splitlines()]


def spy(pid: int, seconds: float, out: Path) -> subprocess.Popen:
    """py-spy sampling ``pid`` for ``seconds``, writing collapsed stacks to ``out``."""
    beside = Path(sys.executable).with_name("py-spy")  # the venv's, not on PATH unless active
    program = str(beside) if beside.exists() else "py-spy"
    args = [program, "record", "--pid", str(pid), "--duration", str(int(seconds)),
            "--rate", str(RATE), "--format", "raw", "--output", str(out), "--nonblocking",
            "--gil"]  # fmt: skip
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def shares(stacks: list[str]) -> tuple[Counter[str], Counter[str], int]:
    """Per frame, the samples it was on the stack in (once a sample) and on top of."""
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    for line in stacks:
        path, _, count = line.rpartition(" ")
        samples = int(count)
        frames = [LINE.sub(")", frame) for frame in path.split(";")]
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        self_[frames[-1]] += samples
    return inclusive, self_, total


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of load")
    parser.add_argument("--top", type=int, default=40, help="frames printed per list")
    return parser.parse_args()


if __name__ == "__main__":
    main()
