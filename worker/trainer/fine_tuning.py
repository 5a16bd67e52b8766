"""Fine-tune both models on users' samples, mixed with a replay of MNIST, behind a gate.

One round, in named steps: build the training mix (users' samples, augmented, plus a
replay of base digits so the models do not forget MNIST), tune each model from its
current version, judge the candidate against its parent at the gate, publish it as a
version (kept even when rejected, with the metrics that decided), and promote those that
passed in one manifest write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import keras
import numpy as np

from shared import answers, challengers, registry
from shared.names import MODEL_NAMES
from shared.storage import Store
from worker.trainer import gate
from worker.trainer.augmentation import AugmentedDigits
from worker.trainer.conversion import to_tflite
from worker.trainer.keras_files import keras_bytes, load_version
from worker.trainer.mnist import Mnist, load_base_data, load_replay_negatives, to_inputs
from worker.trainer.training import compile_model
from worker.trainer.user_samples import UserSamples, load_user_samples

log = logging.getLogger(__name__)

MNIST_HOLDOUT = 2000
BATCH_SIZE = 64


@dataclass(frozen=True)
class Recipe:
    """How a candidate is trained from its parent; chosen per model by recorded experiments."""

    epochs: int = 3
    learning_rate: float = 3e-5
    #: Base digits replayed per user sample, so the model keeps what it knew.
    replay_per_sample: int = 8
    #: Copies of each user sample per epoch (each augmented differently).
    user_repeats: int = 3
    augment_fraction: float = 0.5
    #: Replayed digits learn the parent's probabilities (distillation), not their labels:
    #: the candidate keeps the parent's whole answer on MNIST, not only its top digit.
    distill: bool = False
    #: "all" layers train, or only the "head" (the dense layers after the convolutions).
    train: str = "all"
    #: How far the candidate's weights move from the parent's towards the tuned ones (1 =
    #: all the way): averaging the two keeps much of the gain and more of what the parent
    #: knew (Wortsman et al. 2022, "Robust fine-tuning of zero-shot models").
    weight_interpolation: float = 1.0


#: The recipe of each model (see MODEL_CARD.md for the experiments that chose them).
_DISTILLED = Recipe(distill=True, learning_rate=3e-4, epochs=5, weight_interpolation=0.6)
RECIPES: dict[str, Recipe] = {"fnn": _DISTILLED, "cnn": _DISTILLED}

#: ``report(step, total, loss)``: progress of the whole round.
Report = Callable[[int, int, float], None]


@dataclass(frozen=True)
class TrainingMix:
    """What a model trains on in a round: repeated user digits, then replayed base digits."""

    x: np.ndarray
    y: np.ndarray
    user_samples: int
    #: Replayed base digits and, after them, replayed negatives (the end of ``x``).
    replay_digits: int
    recipe: Recipe
    replay_negatives: int = 0
    #: Of the user samples, those labelled "not a digit".
    user_not_digit: int = 0

    def steps(self) -> int:
        return self.recipe.epochs * -(-len(self.x) // BATCH_SIZE)

    def is_replay(self) -> np.ndarray:
        replayed = self.replay_digits + self.replay_negatives
        return np.arange(len(self.y)) >= len(self.y) - replayed


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


#: Replayed negatives per replayed digit: the share of negatives the shipped models had.
NEGATIVES_PER_DIGIT = 0.2


def build_training_mix(
    base: Mnist, user: UserSamples, recipe: Recipe, seed: int, negatives: np.ndarray
) -> TrainingMix:
    """Repeated user samples, then replayed base digits, then replayed negatives."""
    n_user = len(user.train_y)
    if n_user == 0:
        raise ValueError("no labelled user samples to learn from")
    rng = np.random.default_rng(seed)
    size = min(len(base.x_train), recipe.replay_per_sample * n_user)
    replay = rng.choice(len(base.x_train), size=size)
    n_negatives = min(len(negatives), int(size * NEGATIVES_PER_DIGIT))
    junk = rng.choice(len(negatives), size=n_negatives, replace=False)
    repeats = recipe.user_repeats
    x = np.concatenate(
        [np.repeat(user.train_x, repeats, axis=0), base.x_train[replay], negatives[junk]]
    )
    y = np.concatenate(
        [
            np.repeat(user.train_y, repeats),
            base.y_train[replay],
            np.full(n_negatives, answers.NOT_DIGIT, np.int64),
        ]
    )
    user_not_digit = int(np.sum(user.train_y == answers.NOT_DIGIT))
    return TrainingMix(x, y, n_user, size, recipe, n_negatives, user_not_digit)


def freeze_batch_norm(model: keras.Model) -> None:
    """Keep batch-norm statistics as trained on all of MNIST.

    A fine-tune batch is a few hundred digits: updating the statistics from it shifts
    every later layer's input and costs MNIST accuracy (keras-io transfer learning guide).
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


def freeze_features(model: keras.Model) -> None:
    """Train only the head: every layer up to the flattening of the feature maps stays."""
    for layer in model.layers:
        layer.trainable = False
        if isinstance(layer, keras.layers.Flatten):
            break


def targets(model: keras.Model, mix: TrainingMix) -> np.ndarray:
    """What each digit of the mix must answer: its label, or the parent's answer (distilled)."""
    one_hot = np.eye(answers.DIGITS + 1, dtype=np.float32)[mix.y]
    if mix.recipe.distill and mix.replay_digits:
        replay = mix.is_replay()
        one_hot[replay] = model.predict(to_inputs(mix.x[replay]), batch_size=512, verbose=0)
    return one_hot


def tune(model: keras.Model, mix: TrainingMix, seed: int, progress: Progress) -> float:
    """Train in place at a low rate; returns the last epoch's loss."""
    recipe = mix.recipe
    soft = targets(model, mix)  # before any weight moves
    for layer in model.layers:  # a saved version keeps its flags: start from all trainable
        layer.trainable = True
    freeze_batch_norm(model)
    if recipe.train == "head":
        freeze_features(model)
    # recompile: what is trainable changed; soft targets need the categorical loss
    compile_model(model, recipe.learning_rate, loss="categorical_crossentropy")
    data = AugmentedDigits(mix.x, soft, BATCH_SIZE, seed, recipe.augment_fraction)
    parent = model.get_weights()
    history = model.fit(data, epochs=recipe.epochs, callbacks=[progress], verbose=0)
    if recipe.weight_interpolation != 1.0:
        share = recipe.weight_interpolation
        model.set_weights(
            [p + share * (t - p) for p, t in zip(parent, model.get_weights(), strict=True)]
        )
    return float(history.history["loss"][-1])


def publish(store: Store, name: str, model: keras.Model, metrics: dict[str, Any]) -> int:
    """Store the candidate as the model's next version, promoted or not; returns its number."""
    version = registry.next_version(store, name)
    files = {"model.keras": keras_bytes(model), "model.tflite": to_tflite(model)}
    registry.publish_version(store, name, version, files, metrics)
    return version


def fine_tune_model(
    store: Store, name: str, parent_version: int, mix: TrainingMix, holdout: gate.Holdout,
    user: UserSamples, progress: Progress, seed: int, passed_as: str = "promoted",
) -> dict[str, Any]:  # fmt: skip
    """One model's round: score the parent, tune, judge, publish; the version's metrics.

    A candidate that passes the gate is published as ``passed_as``: "promoted", or
    "challenger" when it must still win a race on live labels.
    """
    keras.utils.set_random_seed(seed)
    model = load_version(store, name, parent_version)
    rate = answers.rate_of(registry.read_metrics(store, name, parent_version))
    parent = gate.score(model, holdout, rate)
    agreement = gate.accuracy_and_loss(model, user.train_x, user.train_y, parent.reject_threshold)[
        0
    ]
    final_loss = tune(model, mix, seed, progress)
    candidate = gate.score(model, holdout, rate)
    rule = gate.RULES[name]
    failures = gate.gate_failures(parent, candidate, agreement, rule)
    metrics = {
        "outcome": "rejected" if failures else passed_as,
        "parent_version": parent_version,
        "reject_threshold": candidate.reject_threshold,
        "false_reject_rate_target": rate,
        "gate_failures": failures,
        "holdout": {"parent": asdict(parent), "candidate": asdict(candidate),
                    "mnist_digits": len(holdout.mnist_y), "user_samples": len(holdout.user_y),
                    "negatives": len(holdout.negatives), "user_holdout_by": user.holdout_by},
        "gate": asdict(rule),
        "label_agreement": agreement,
        "training": {"user_samples": mix.user_samples,
                     "user_not_digit": mix.user_not_digit,
                     "replay_digits": mix.replay_digits, "replay_negatives": mix.replay_negatives,
                     "recipe": asdict(mix.recipe), "final_loss": final_loss},
    }  # fmt: skip
    version = publish(store, name, model, metrics)
    log.info("fine-tune %s v%s: %s %s", name, version, metrics["outcome"], metrics["holdout"])
    return {"version": version, **metrics}


def run_fine_tune(
    store: Store,
    mnist_path: str,
    weights_dir: str,
    report: Report,
    new_ids: set[str] | None = None,
    seed: int = 0,
    recipes: dict[str, Recipe] = RECIPES,
    challenger_pairs: int = 0,
    keep_versions: int = 10,
) -> dict[str, Any]:
    """Train, judge and publish a candidate of each model; promote those that pass.

    With ``challenger_pairs`` above 0 a passing candidate becomes its model's challenger
    instead (``shared.challengers``), and a model whose challenger is still racing is not
    tuned this round (outcome "skipped"). Versions that never served, older than the
    newest ``keep_versions``, are removed at the end (``registry.prune_versions``).
    """
    started = time.monotonic()
    current = registry.ensure_initial_versions(store, weights_dir)
    racing = set(challengers.read_challengers(store)) if challenger_pairs else set()
    names = [name for name in MODEL_NAMES if name not in racing]
    outcomes: dict[str, dict[str, Any]] = {
        name: {"outcome": "skipped", "reason": "a challenger of this model is racing"}
        for name in MODEL_NAMES
        if name in racing
    }
    user_ids: list[str] = []
    if names:
        base = load_base_data(mnist_path, weights_dir)
        extras = load_replay_negatives(weights_dir)
        user = load_user_samples(store, new_ids)
        mixes = {
            name: build_training_mix(base, user, recipes[name], seed, extras.train)
            for name in names
        }
        holdout = gate.Holdout(
            base.x_test[:MNIST_HOLDOUT],
            base.y_test[:MNIST_HOLDOUT],
            user.holdout_x,
            user.holdout_y,
            extras.gate,
            extras.threshold_x,
        )
        progress = Progress(report, sum(mix.steps() for mix in mixes.values()))
        passed_as = "challenger" if challenger_pairs else "promoted"
        for i, name in enumerate(MODEL_NAMES):
            if name in mixes:
                outcomes[name] = fine_tune_model(
                    store, name, current[name], mixes[name], holdout, user, progress, seed + i,
                    passed_as,
                )  # fmt: skip
        user_ids = list(user.used_ids)
    promoted = {n: o["version"] for n, o in outcomes.items() if o["outcome"] == "promoted"}
    if promoted:
        # Files of every version are complete by now; the manifest moves in one write.
        registry.promote(store, promoted)
    for name, o in outcomes.items():
        if o["outcome"] == "challenger":
            challengers.start(store, name, o["version"], current[name])
    manifest = registry.read_manifest(store) or {}
    live = challengers.read_challengers(store)
    pruned = {
        name: registry.prune_versions(
            store, name, keep_versions,
            {manifest.get(name, 0), int(live.get(name, {}).get("version", 0))},
        )
        for name in MODEL_NAMES
    }  # fmt: skip
    kinds = {o["outcome"] for o in outcomes.values()}
    overall = next((k for k in ("promoted", "challenger", "rejected") if k in kinds), "skipped")
    return {
        "outcome": overall,
        "models": dict(sorted(outcomes.items(), key=lambda item: MODEL_NAMES.index(item[0]))),
        "seconds": round(time.monotonic() - started, 2),
        "used_sample_ids": user_ids,
        "skipped": sorted(racing),
        "pruned": {name: versions for name, versions in pruned.items() if versions},
    }
