"""The replay set shipped beside the weights (``models/replay.npz``): what fine-tunes replay
and gate on when MNIST and UNIPEN are not at hand.

``python -m worker.trainer.tools.make_models replay-set --mnist mnist.npz [--unipen DIR]``

MNIST training digits to replay and test digits to gate on (``worker.trainer.mnist``);
drawings that are not digits, to replay and to gate on; canvas-style test digits to choose
thresholds on; and with ``--unipen``, real-pen digits of the training family of writers
(``worker.trainer.tools.real_pens``, the writers the shipped models learned): those of
three quarters of its writers to replay, those of the other quarter to gate on, so a
fine-tune cannot pass the gate by remembering the pens it replayed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from worker.trainer.augmentation import augment_batch
from worker.trainer.mnist import Mnist, ReplayExtras, load_mnist, write_replay_set
from worker.trainer.negatives import SEEDS, make_negatives
from worker.trainer.tools.real_pens import TRAIN_SEED, family, pen_images, writer_share

#: Of the training family's writers, this share give the gate's pens (the rest replay).
GATE_WRITERS = 0.25
#: Seed of the replay set's pen drawings (the training family's, moved on).
PEN_SEED = TRAIN_SEED + 10


def write(args: argparse.Namespace) -> None:
    """The ``replay-set`` command: write ``args.out``."""
    mnist = load_mnist(args.mnist)
    extras = replay_extras(mnist, args.test, args.negatives, args.threshold_digits)
    if args.unipen:
        extras = with_pens(extras, args.unipen, args.pens, args.gate_pens)
    write_replay_set(mnist, Path(args.out), args.train, args.test, extras)
    print(f"wrote {args.out} ({len(extras.pens_y)} + {len(extras.gate_pens_y)} pens)", flush=True)


def replay_extras(mnist: Mnist, gate_digits: int, count: int, digits: int) -> ReplayExtras:
    """Negatives to replay and to gate on (training fonts; two seeds of their own), and the
    canvas-style test digits after the gate's that thresholds are chosen on."""
    seed = SEEDS["training"]
    threshold_x = augment_batch(
        mnist.x_test[gate_digits : gate_digits + digits], np.random.default_rng([seed, 3])
    )
    return ReplayExtras(
        make_negatives(count, "training", seed=seed + 1)[0],
        make_negatives(count // 2, "training", seed=seed + 2)[0],
        threshold_x,
    )


def is_gate_writer(writer: str) -> bool:
    """Whether a training-family writer's digits are the gate's (the second byte of the
    hash: the first split the families)."""
    return writer_share(writer, 1, GATE_WRITERS)


def with_pens(extras: ReplayExtras, root: str, replay: int, gate: int) -> ReplayExtras:
    """``extras`` with ``replay`` pen digits to replay and ``gate`` to gate on, at random
    from the two groups of training-family writers, each drawn once as the page draws."""
    digits = family(root, dev=False)
    rng = np.random.default_rng(PEN_SEED)
    chosen = []
    for wanted, count in ((False, replay), (True, gate)):
        mine = [d for d in digits if is_gate_writer(d.writer) == wanted]
        picked = rng.choice(len(mine), size=min(count, len(mine)), replace=False)
        chosen.append(pen_images([mine[i] for i in sorted(picked)], PEN_SEED + int(wanted)))
    (pens_x, pens_y), (gate_x, gate_y) = chosen
    return ReplayExtras(
        extras.train, extras.gate, extras.threshold_x, pens_x, pens_y, gate_x, gate_y
    )


def add_arguments(parser: argparse.ArgumentParser, holdout: int) -> None:
    """The ``replay-set`` command's options."""
    parser.add_argument("--mnist", help="mnist.npz path (default: MNIST_PATH, else keras)")
    parser.add_argument("--out", default="models/replay.npz")
    parser.add_argument("--train", type=int, default=5000, help="training digits to replay")
    parser.add_argument("--test", type=int, default=holdout, help="test digits to gate on")
    parser.add_argument("--negatives", type=int, default=2000, help="negatives to replay")
    parser.add_argument(
        "--threshold-digits", type=int, default=1000, help="test digits to choose thresholds on"
    )
    parser.add_argument("--unipen", help="UNIPEN train_r01_v07 checkout: real-pen digits too")
    parser.add_argument("--pens", type=int, default=2000, help="pen digits to replay")
    parser.add_argument("--gate-pens", type=int, default=1000, help="pen digits to gate on")
