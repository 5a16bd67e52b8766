"""Where the offline evaluation tools find MNIST and the models: their ``--mnist`` and
``--models`` options, else ``MNIST_PATH`` and ``WEIGHTS_DIR`` (``shared.settings``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from shared.settings import Settings


def mnist_and_models(args: argparse.Namespace, tool: str) -> tuple[str, Path]:
    """``args.mnist`` or MNIST_PATH (an error naming ``tool`` when neither: nothing is
    downloaded), and ``args.models`` or WEIGHTS_DIR."""
    settings = Settings.from_env(require_redis=False)
    mnist = args.mnist or settings.mnist_path
    if not mnist:
        raise SystemExit(f"give --mnist PATH or set MNIST_PATH ({tool} does not download)")
    return mnist, Path(args.models or settings.weights_dir)


def unipen_of(args: argparse.Namespace) -> str | None:
    """``args.unipen`` or UNIPEN_PATH; None for neither (the real-pen figures are left out)."""
    return args.unipen or Settings.from_env(require_redis=False).unipen_path or None
