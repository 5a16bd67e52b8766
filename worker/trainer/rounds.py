"""What every training round shares, fine-tune or full retrain: progress, the current
version's baseline, the gate's judgment and publication, and the round's end.

A round starts (``start_round``: the shipped weights published if the store has none,
racing models noted), scores each current version on the gate's holdout (``baseline``),
judges and publishes each candidate (``judge_and_publish``), then promotes those that
passed in one manifest write, starts challengers and prunes (``finish_round``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import keras

from shared import answers, challengers, registry
from shared.names import MODEL_NAMES
from shared.storage import Store
from worker.lite_model import LiteModel
from worker.trainer import gate
from worker.trainer.conversion import to_tflite
from worker.trainer.keras_files import keras_bytes, load_version
from worker.trainer.mnist import Mnist, ReplayExtras
from worker.trainer.user_samples import UserSamples

log = logging.getLogger(__name__)

#: MNIST test digits the gate scores on (the first ones; the replay set ships exactly these).
MNIST_HOLDOUT = 2000

#: ``report(step, total, loss)``: progress of the whole round.
Report = Callable[[int, int, float], None]


class Progress(keras.callbacks.Callback):
    """Counts training steps towards a total known up front; reports every half second."""

    def __init__(self, report: Report, total: int) -> None:
        super().__init__()
        self.report, self.total = report, total
        self.step, self.last = 0, 0.0
        report(0, total, 0.0)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.step += 1
        now = time.monotonic()
        if now - self.last >= 0.5 or self.step == self.total:
            self.last = now
            self.report(self.step, self.total, float((logs or {}).get("loss", 0.0)))


#: The list of the sample ids a retrained version saw, beside its files.
SAMPLES_FILE = "training_samples.json"
#: Files a version may hold beside ``registry.ARTIFACTS`` and its metrics: removed with the
#: version when it is pruned.
EXTRA_FILES = (SAMPLES_FILE,)


def publish(
    store: Store,
    name: str,
    model: keras.Model,
    tflite: bytes,
    metrics: dict[str, Any],
    extra_files: dict[str, bytes] | None = None,
) -> int:
    """Store the candidate (its Keras model and the LiteRT file the gate scored) as the
    model's next version, promoted or not; returns its number."""
    version = registry.next_version(store, name)
    files = {"model.keras": keras_bytes(model), "model.tflite": tflite}
    registry.publish_version(store, name, version, {**files, **(extra_files or {})}, metrics)
    return version


@dataclass(frozen=True)
class Baseline:
    """The current version on the gate's holdout: what a candidate of the model must beat."""

    #: The Keras model a fine-tune starts from; the gate scored its served LiteRT file.
    model: keras.Model
    version: int
    #: The lineage's false-reject rate, which chooses each model's threshold.
    rate: float
    scores: gate.Scores
    #: How often the current version agrees with the labels the candidate trains on.
    agreement: float


def baseline(
    store: Store, name: str, version: int, holdout: gate.Holdout, user: UserSamples
) -> Baseline:
    """Load ``version`` of ``name`` and score it as the gate will score its candidate: the
    LiteRT file the predict worker serves."""
    model = load_version(store, name, version)
    served = LiteModel.from_store(store, name, version)
    rate = answers.rate_of(registry.read_metrics(store, name, version))
    scores = gate.score(served, holdout, rate)
    agreement = gate.accuracy_and_loss(served, user.train_x, user.train_y, scores.reject_threshold)
    return Baseline(model, version, rate, scores, agreement[0])


def judge_and_publish(
    store: Store,
    name: str,
    model: keras.Model,
    parent: Baseline,
    holdout: gate.Holdout,
    user: UserSamples,
    passed_as: str,
    details: dict[str, Any],
    extra_files: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """Score a candidate against ``parent`` at the gate and publish it; the version's metrics.

    A candidate that passes is published as ``passed_as``: "promoted", or "challenger"
    when it must still win a race on live labels; ``details`` (how it was trained) join
    the gate's figures in its metrics.
    """
    tflite = to_tflite(model)  # scored as it will serve, and published as scored
    candidate = gate.score(LiteModel(tflite), holdout, parent.rate)
    rule = gate.RULES[name]
    failures = gate.gate_failures(parent.scores, candidate, parent.agreement, rule)
    metrics = {
        "outcome": "rejected" if failures else passed_as,
        **details,
        "reject_threshold": candidate.reject_threshold,
        "false_reject_rate_target": parent.rate,
        "gate_failures": failures,
        "holdout": {
            "parent": asdict(parent.scores),
            "candidate": asdict(candidate),
            "mnist_digits": len(holdout.mnist_y),
            "user_samples": len(holdout.user_y),
            "negatives": len(holdout.negatives),
            "user_holdout_by": user.holdout_by,
        },
        "gate": asdict(rule),
        "label_agreement": parent.agreement,
    }
    version = publish(store, name, model, tflite, metrics, extra_files)
    kind = metrics.get("training", {}).get("kind", "fine_tune")
    log.info("%s %s v%s: %s %s", kind, name, version, metrics["outcome"], metrics["holdout"])
    return {"version": version, **metrics}


@dataclass(frozen=True)
class RoundStart:
    """Which version of each model is current, and which models this round trains."""

    current: dict[str, int]
    #: Models whose challenger is racing: not trained this round (outcome "skipped").
    racing: frozenset[str]

    @property
    def names(self) -> list[str]:
        return [name for name in MODEL_NAMES if name not in self.racing]

    def skipped(self) -> dict[str, dict[str, Any]]:
        reason = "a challenger of this model is racing"
        return {name: {"outcome": "skipped", "reason": reason} for name in sorted(self.racing)}


def start_round(store: Store, weights_dir: str, challenger_pairs: int) -> RoundStart:
    """Publish the shipped weights if the store has none; note the models that race."""
    current = registry.ensure_initial_versions(store, weights_dir)
    racing = frozenset(challengers.read_challengers(store)) if challenger_pairs else frozenset()
    return RoundStart(current, racing)


def make_holdout(
    base: Mnist, user: UserSamples, extras: ReplayExtras, pens: bool = True
) -> gate.Holdout:
    """The gate's holdout: MNIST test digits, the users' held-out samples, fixed negatives
    and (``pens``) the replay set's real-pen digits kept for the gate."""
    if not pens:
        extras = replace(
            extras, gate_pens_x=extras.gate_pens_x[:0], gate_pens_y=extras.gate_pens_y[:0]
        )
    return gate.Holdout(
        base.x_test[:MNIST_HOLDOUT],
        base.y_test[:MNIST_HOLDOUT],
        user.holdout_x,
        user.holdout_y,
        extras.gate,
        extras.threshold_x,
        extras.gate_pens_x,
        extras.gate_pens_y,
    )


def finish_round(
    store: Store, start: RoundStart, outcomes: dict[str, dict[str, Any]], keep_versions: int
) -> dict[str, Any]:
    """Promote what passed in one manifest write, start challengers, prune; the round's result.

    Versions that never served, older than the newest ``keep_versions``, are removed
    (``registry.prune_versions``) with their extra files.
    """
    promoted = {n: o["version"] for n, o in outcomes.items() if o["outcome"] == "promoted"}
    if promoted:
        # Files of every version are complete by now; the manifest moves in one write.
        registry.promote(store, promoted)
    for name, o in outcomes.items():
        if o["outcome"] == "challenger":
            challengers.start(store, name, o["version"], start.current[name])
    manifest = registry.read_manifest(store) or {}
    live = challengers.read_challengers(store)
    pruned = {
        name: registry.prune_versions(
            store,
            name,
            keep_versions,
            {manifest.get(name, 0), live[name]["version"] if name in live else 0},
        )
        for name in MODEL_NAMES
    }
    for name, versions in pruned.items():
        for version in versions:
            for filename in EXTRA_FILES:
                store.delete(registry.version_key(name, version, filename))
    kinds = {o["outcome"] for o in outcomes.values()}
    overall = next((k for k in ("promoted", "challenger", "rejected") if k in kinds), "skipped")
    return {
        "outcome": overall,
        "models": dict(sorted(outcomes.items(), key=lambda item: MODEL_NAMES.index(item[0]))),
        "skipped": sorted(start.racing),
        "pruned": {name: versions for name, versions in pruned.items() if versions},
    }
