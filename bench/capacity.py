"""Server CPU per prediction from the kernel's accounting, and the processes it implies.

The kernel counts CPU time per process in /proc/<pid>/stat (utime and stime, and
cutime and cstime for children it has reaped). The sum over a server's process tree
before and after a load level, divided by the predictions done, is what one
prediction costs that kind of process. At a target rate that gives the dynos of each
kind a deployment needs, under the assumptions stated in ``ASSUMPTIONS``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import processes

#: Milliseconds per clock tick, the unit of /proc/<pid>/stat's CPU times.
TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")
#: The process trees each system runs on, by the names the bench started them under.
KINDS = {
    "digits": ("web", "worker", "valkey"),
    "baseline": ("baseline",),
    "classic": ("classic",),
}
#: A dyno is one core kept at most this busy: headroom for bursts and uneven routing.
UTILISATION = 0.7
RATES = (100, 1_000, 10_000)
#: The level the model reads: busy enough that batching works, not yet overloaded.
MODEL_CLIENTS = 32
ASSUMPTIONS = (
    f"one dyno = one core at {UTILISATION:.0%} utilisation; CPU per prediction as measured "
    "on this machine (loopback, no TLS, no router), scaling linearly with the rate",
    "web and worker dynos scale out on one Valkey; Valkey runs commands on one thread, so "
    "one instance tops out at 1 core / its CPU per prediction, and past that the broker, "
    "the prediction records need separate instances (or sharding)",
    "the baseline is one kind of dyno (model in the request) and needs no broker",
)


def tree_cpu_ms(pid: int) -> float:
    """CPU time of a process and all its descendants, live or already reaped."""
    ticks = 0
    for proc in processes.process_tree(pid):
        try:
            fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended since the tree was read: its time is now in its parent's cutime
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks * TICK_MS


def children_cpu_ms() -> float:
    """CPU time of this process's reaped children: the load generator's client processes."""
    times = os.times()
    return (times.children_user + times.children_system) * 1000


def machine_cpu_ms() -> tuple[float, float]:
    """CPU time all cores ran something since boot, and time the hypervisor took (steal)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split()[1:9]]
    return sum(fields[i] for i in (0, 1, 2, 5, 6)) * TICK_MS, fields[7] * TICK_MS


def metered(pids: dict[str, int], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one load level; its row plus the CPU each server process tree spent on it."""
    before = {kind: tree_cpu_ms(pid) for kind, pid in pids.items()}
    client_before, (busy_before, steal_before) = children_cpu_ms(), machine_cpu_ms()
    row = run()
    used = {kind: tree_cpu_ms(pid) - before[kind] for kind, pid in pids.items()}
    client = children_cpu_ms() - client_before
    busy, steal = machine_cpu_ms()
    # Whatever else ran meanwhile (the bench itself, other processes, the hypervisor's
    # other guests) competed for the same cores: shown so a noisy run can be told apart.
    other = busy - busy_before - sum(used.values()) - client
    wall_ms = row["duration_s"] * 1000
    done = row["done"]

    def each(ms: float) -> float | None:
        return round(ms / done, 3) if done else None

    cpu = {kind: each(ms) for kind, ms in used.items()} | {"total": each(sum(used.values()))}
    return row | {
        "cpu_ms": {kind: round(ms) for kind, ms in used.items()},
        "cpu_ms_per_prediction": cpu,
        "server_cores_busy": round(sum(used.values()) / wall_ms, 2),
        "other_cores_busy": round(other / wall_ms, 2),
        "steal_cores": round((steal - steal_before) / wall_ms, 2),
        "client_cpu_ms_per_prediction": each(client),
    }


def show_cpu(name: str, row: dict[str, Any]) -> str:
    """One printed line: CPU per prediction of each process kind at this level."""
    cpu = row["cpu_ms_per_prediction"]
    if cpu["total"] is None:
        return f"  cpu {name:<8} {row['clients']:>3} clients: no prediction done"
    parts = " + ".join(f"{kind} {cpu[kind]:.2f}" for kind in cpu if kind != "total")
    client, other = row["client_cpu_ms_per_prediction"], row["other_cores_busy"]
    return (
        f"  cpu {name:<8} {row['clients']:>3} clients: {parts} = {cpu['total']:.2f} ms/prediction "
        f"({row['server_cores_busy']:.2f} cores busy); client {client:.2f} ms; "
        f"other processes {other:.2f} cores, hypervisor steal {row['steal_cores']:.2f} cores"
    )


def ratio(digits: dict[str, Any], base: dict[str, Any] | None) -> float | None:
    """Digits' server CPU per prediction over the baseline's at the same level."""
    mine = digits["cpu_ms_per_prediction"]["total"]
    theirs = base["cpu_ms_per_prediction"]["total"] if base else None
    return round(mine / theirs, 2) if mine and theirs else None


def _row(rows: list[dict[str, Any]], clients: int) -> dict[str, Any] | None:
    return next((r for r in rows if r["clients"] == clients), None)


def model(load: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Dynos of each kind for RATES, from CPU per prediction at MODEL_CLIENTS clients."""
    done = [r for r in load["digits"] if r["cpu_ms_per_prediction"]["total"]]
    if not done:
        return {}
    digits = _row(done, MODEL_CLIENTS) or max(done, key=lambda r: r["throughput_per_s"])
    base = _row(load["baseline"], digits["clients"])
    # A kind that used less than a clock tick has no meaningful figure.
    per = {k: v for k, v in digits["cpu_ms_per_prediction"].items() if k != "total" and v}
    if base and base["cpu_ms_per_prediction"]["total"]:
        per["baseline"] = base["cpu_ms_per_prediction"]["total"]
    return {
        "clients": digits["clients"],
        "utilisation": UTILISATION,
        "ms_per_prediction": per,
        "digits_total_ms": digits["cpu_ms_per_prediction"]["total"],
        "ratio": ratio(digits, base),
        "per_dyno_per_s": {kind: round(UTILISATION * 1000 / ms) for kind, ms in per.items()},
        "valkey_max_per_s": round(1000 / per["valkey"]) if per.get("valkey") else None,
        "dynos": [{"rate": rate} | dynos(rate, per) for rate in RATES],
        "assumptions": list(ASSUMPTIONS),
    }


def dynos(rate: int, per: dict[str, float]) -> dict[str, int]:
    """Processes of each kind to serve ``rate`` predictions/s, each one core at UTILISATION."""
    need = {kind: math.ceil(rate * ms / (1000 * UTILISATION)) for kind, ms in per.items()}
    need["digits_cores"] = sum(n for kind, n in need.items() if kind != "baseline")
    return need


def cpu_lines(load: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Markdown: server CPU per prediction by process kind and level, Digits vs baseline."""
    lines = ["| clients | web | worker | valkey | Digits total | baseline | ratio | client ms "
             "(Digits / baseline) |", "|---:|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for row in load["digits"]:
        cpu, base = row["cpu_ms_per_prediction"], _row(load["baseline"], row["clients"])
        theirs = base["cpu_ms_per_prediction"]["total"] if base else None
        cells = [cpu.get(kind) for kind in (*KINDS["digits"], "total")] + [theirs]
        client = (
            row["client_cpu_ms_per_prediction"],
            (base or {}).get("client_cpu_ms_per_prediction"),
        )
        ratio_cell = f"{ratio(row, base):.2f}×" if ratio(row, base) else "–"
        lines.append(
            f"| {row['clients']} | " + " | ".join(_ms(c) for c in cells)
            + f" | {ratio_cell} | {_ms(client[0])} / {_ms(client[1])} |"
        )  # fmt: skip
    return lines


def capacity_lines(cap: dict[str, Any]) -> list[str]:
    """Markdown: dynos of each kind per target rate, and the assumptions behind them."""
    if not cap:
        return []
    digits = [kind for kind in cap["ms_per_prediction"] if kind != "baseline"]
    kinds = [*digits, "digits_cores", *(["baseline"] if "baseline" in cap["dynos"][0] else [])]
    lines = ["| predictions/s | " + " | ".join(_label(k) for k in kinds) + " |",
             "|---:|" + "---:|" * len(kinds)]  # fmt: skip
    for need in cap["dynos"]:
        lines.append(f"| {need['rate']:,} | " + " | ".join(str(need[k]) for k in kinds) + " |")
    per_dyno = ", ".join(f"{kind} {n:,}/s" for kind, n in cap["per_dyno_per_s"].items())
    lines += ["", f"From {cap['clients']} clients. One dyno serves: {per_dyno}."]
    if cap["valkey_max_per_s"]:
        lines.append(
            f"One Valkey instance at 100 % of its core: {cap['valkey_max_per_s']:,}/s; "
            "past that rate one Redis is the limit."
        )
    return lines + [f"- {assumption}" for assumption in cap["assumptions"]]


def _label(kind: str) -> str:
    return {"digits_cores": "Digits cores in all", "valkey": "valkey instances"}.get(
        kind, f"{kind} dynos"
    )


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"
