"""Container health check of a worker app: ``python -m worker.healthcheck predict|trainer``.

Pings one Celery node and exits 0 when it answers, 1 (one line on stderr) when it does not
answer within ``--timeout`` or Redis is unreachable. ``celery inspect ping`` cannot be the
check: it takes its connection from the app's pool (``BROKER_POOL_LIMIT``, one) and then
waits on the same pool for a producer, forever. This ping brings a connection of its own,
as ``web.health``'s does, and a hard deadline ends it whatever kombu does meanwhile.

It builds a bare app from the shared configuration instead of importing the worker apps:
the ping needs the broker URL only, and the trainer's app must not cost TensorFlow or the
tasks' imports for a check that runs every 30 s.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from celery import Celery
from celery.utils.nodenames import default_nodename, host_format

from shared.celery_config import make_celery
from worker.clients import settings

#: App name to (Celery app main, node name's default as in the Procfile's ``-n``).
APPS = {
    "predict": ("digits-predict", "worker@%h"),
    "trainer": ("digits-trainer", "trainer@%h"),
}
#: Seconds to wait for the node's answer, as the old ``--timeout 5``.
DEFAULT_TIMEOUT = 5.0
#: Past the timeout, the check gives up on a connect or publish that has not returned.
GRACE = 1.0


def node_name(template: str) -> str:
    """The node name as ``celery worker -n`` spells it: ``%h`` is this host's name."""
    return host_format(default_nodename(template))


def ping_node(app: Celery, node: str, deadline: float) -> bool:
    """Whether ``node`` answers a ping before ``deadline`` (``time.monotonic``).

    On a broker connection of its own, closed after: the app's pool has room for the
    producer the ping takes, not for the connection it holds while it waits too.
    """
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=0, timeout=max(deadline - time.monotonic(), 0))
        wait = max(deadline - time.monotonic(), 0.1)
        replies = app.control.ping(destination=[node], timeout=wait, connection=connection)
    return any(node in reply for reply in replies)


@dataclass
class Outcome:
    """What the pinging thread left: an answer, an error, or nothing yet."""

    answered: bool | None = None
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)


def check(app: Celery, node: str, timeout: float) -> str | None:
    """None when ``node`` answered within ``timeout``, else why not in one line.

    In a daemon thread the process leaves behind: no connect, publish or retry loop in
    kombu can keep the check past ``timeout + GRACE``.
    """
    deadline = time.monotonic() + timeout
    outcome = Outcome()

    def run() -> None:
        try:
            outcome.answered = ping_node(app, node, deadline)
        except Exception as exc:  # Redis down or refusing: the check's answer, not a crash
            outcome.error = exc
        finally:
            outcome.done.set()

    threading.Thread(target=run, name="healthcheck-ping", daemon=True).start()
    if not outcome.done.wait(timeout + GRACE):
        return f"{node}: no answer within {timeout:g} s (broker did not respond)"
    if outcome.error is not None:
        reason = " ".join(str(outcome.error).split()) or type(outcome.error).__name__
        return f"{node}: broker unreachable: {reason}"
    if not outcome.answered:
        return f"{node}: no answer within {timeout:g} s"
    return None


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; a timeout of 0 or less would make every check fail, so it is refused."""
    parser = argparse.ArgumentParser(prog="python -m worker.healthcheck", description=__doc__)
    parser.add_argument("app", choices=sorted(APPS), help="the worker app to check")
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for the answer"
    )
    parser.add_argument(
        "--node",
        help="the node to ping, as the worker's -n (%%h is this host); "
        "default worker@%%h for predict, trainer@%%h for trainer",
    )
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error("--timeout must be a positive number of seconds")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Exit status for Docker: 0 healthy, 1 not (the reason on stderr)."""
    args = parse(argv)
    main_name, default_node = APPS[args.app]
    node = node_name(args.node or default_node)
    try:
        app = make_celery(settings(), main_name)
    except Exception as exc:  # a missing or malformed setting: unhealthy, said in one line
        sys.stderr.write(f"{node}: cannot configure the check: {exc}\n")
        return 1
    problem = check(app, node, args.timeout)
    if problem is not None:
        sys.stderr.write(problem + "\n")
        return 1
    sys.stdout.write(f"{node}: answered\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())  # a ping thread still stuck is a daemon: it does not hold the exit
