"""scripts/smoke_client.py, the compose smoke's HTTP driver, run as the smoke runs it.

Each step is a process of its own against the session's live stack (web in a thread,
a real predict worker, valkey, SeaweedFS): only the cheap steps, the fine-tunes and
the stops are the compose smoke's own business.
"""

from __future__ import annotations

import re
import subprocess
import sys

from tests.helpers import ADMIN_TOKEN, ROOT
from tests.ports import free_port

DRIVER = ROOT / "scripts" / "smoke_client.py"


def smoke(base_url: str, *step: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """One step as the shell script runs it; its exit status checked."""
    done = subprocess.run(
        [sys.executable, str(DRIVER), "--base-url", base_url, "--admin-token", ADMIN_TOKEN, *step],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert (done.returncode == 0) == ok, (done.returncode, done.stdout, done.stderr)
    return done


def last_line(done: subprocess.CompletedProcess[str]) -> str:
    return done.stdout.splitlines()[-1]


def test_a_healthy_stack_reads_digits_and_exports_metrics(live_server):
    healthy = smoke(live_server, "wait-healthy", "--timeout", "60", "--workers", "worker")
    assert re.fullmatch(r"wait-healthy: ok after [\d.]+ s, \[.*'worker'.*\]", last_line(healthy))
    digit = last_line(smoke(live_server, "digit"))
    assert digit.startswith("digit: ")
    for label in (0, 2, 4, 6, 8):
        assert f"{label}: CNN {label} (" in digit
    scraped = last_line(smoke(live_server, "metrics"))
    metrics = re.fullmatch(r"metrics: (\d+) families, (\d+) series; .*", scraped)
    assert metrics is not None
    families, series = map(int, metrics.groups())
    assert families >= 10 and series > families


def test_collected_samples_are_counted(live_server, predict_worker, client):
    before = int(last_line(smoke(live_server, "count-samples")))
    collected = smoke(live_server, "collect", "3").stdout.splitlines()
    # Samples of earlier tests may still be arriving: at least 3 more, not exactly 3.
    said = re.fullmatch(r"collect: \+3 in [\d.]+ s: (\d+) -> (\d+)", collected[0])
    assert said is not None, collected
    first, total = map(int, said.groups())
    assert first >= before and total >= first + 3 and collected[-1] == str(total)
    counted = smoke(live_server, "count-samples")
    assert last_line(counted) == str(client.get("/api/samples/counts").get_json()["total"])
    assert int(last_line(counted)) >= total


def test_a_failure_is_exit_status_1_with_the_reason(live_server):
    unknown = smoke(live_server, "job-status", "0" * 32, ok=False)
    assert unknown.returncode == 1
    assert "404" in unknown.stderr and "no fine-tune with this id" in unknown.stderr
    nobody = smoke(f"http://127.0.0.1:{free_port()}", "wait-healthy", "--timeout", "2", ok=False)
    assert "not healthy in 2 s" in nobody.stderr
