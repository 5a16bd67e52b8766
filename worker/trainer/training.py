"""Compiling and fitting the models: the recipe of the shipped models, reused by fine-tunes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import keras
import numpy as np

from worker.trainer.augmentation import AugmentedDigits, augment_batch
from worker.trainer.mnist import to_inputs


def compile_model(
    model: keras.Model, learning_rate: float = 1e-3, loss: str = "sparse_categorical_crossentropy"
) -> keras.Model:
    """Adam and cross-entropy; fine-tuning passes a lower rate and soft (categorical) targets."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=loss,
        metrics=["accuracy"],
    )
    return model


def cosine_rate(
    epoch: int, rate: float, *, initial: float, epochs: int, floor: float = 0.01
) -> float:
    """Rate for ``epoch`` (0-based) of a cosine decay from ``initial`` to ``floor * initial``.

    Takes Keras' ``LearningRateScheduler`` arguments (epoch, current rate); ignores the rate.
    """
    progress = epoch / max(epochs - 1, 1)
    return initial * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded random hold-out of the training data: (x_fit, y_fit, x_val, y_val)."""
    order = np.random.default_rng([seed, 1]).permutation(len(x))
    cut = int(round(len(x) * (1 - fraction)))
    fit, val = order[:cut], order[cut:]
    return x[fit], y[fit], x[val], y[val]


def validation_digits(digits: int, negatives: int, seed: int) -> np.ndarray:
    """Which of MNIST's ``digits`` training digits a model trained on them and ``negatives``
    negatives (``make_models``: the digits first) with ``seed`` validates on, never fits."""
    order = np.arange(digits + negatives)
    _, _, validation, _ = split_validation(order, order, 0.1, seed)
    held_out = np.zeros(digits, dtype=bool)
    held_out[validation[validation < digits]] = True
    return held_out


def validation_set(
    x: np.ndarray, y: np.ndarray, seed: int, fraction: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """The hold-out ``train_model`` validates on, augmented with a fixed draw.

    Also what a version's not-a-digit threshold is chosen on: digits it never trained on,
    drawn canvas-style.
    """
    _, _, x_val, y_val = split_validation(x, y, fraction, seed)
    return (augment_batch(x_val, np.random.default_rng([seed, 2])) if len(x_val) else x_val), y_val


def train_model(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int,
    seed: int = 0,
    batch_size: int = 128,
    validation_fraction: float = 0.1,
    patience: int = 4,
    learning_rate: float = 1e-3,
    augment_fraction: float = 0.7,
    verbose: int | str = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
    fit_only: tuple[np.ndarray, np.ndarray] | None = None,
) -> keras.callbacks.History:
    """Fit with augmentation, a validation hold-out, cosine LR decay and early stopping.

    Validation digits are augmented too (with a fixed draw), since canvas digits are the
    ones that matter; the best weights by validation loss are kept. ``callbacks`` run
    after the recipe's own (a retrain reports its progress through one). ``fit_only``
    (images, labels) joins the fitted data, never the hold-out: the parts cut from
    numbers (``number_parts``), whose validation is the development number set.
    """
    keras.utils.set_random_seed(seed)
    x_fit, y_fit, _, _ = split_validation(x, y, validation_fraction, seed)
    if fit_only is not None:
        x_fit, y_fit = np.concatenate([x_fit, fit_only[0]]), np.concatenate([y_fit, fit_only[1]])
    x_val, y_val = validation_set(x, y, seed, validation_fraction)
    data = AugmentedDigits(
        x_fit, y_fit, batch_size, seed, augment_fraction, workers=2, max_queue_size=16
    )
    compile_model(model, learning_rate)
    return model.fit(
        data,
        epochs=epochs,
        validation_data=(to_inputs(x_val), y_val),
        callbacks=[*recipe_callbacks(learning_rate, epochs, patience), *callbacks],
        verbose=verbose,
    )


def recipe_callbacks(
    learning_rate: float, epochs: int, patience: int
) -> list[keras.callbacks.Callback]:
    """The recipe's cosine decay and early stopping (keeping the best weights)."""
    return [
        # cosine decay to 1 % over the planned epochs: the last, low-rate epochs are what
        # lift clean-test accuracy after training on heavily augmented digits
        keras.callbacks.LearningRateScheduler(
            partial(cosine_rate, initial=learning_rate, epochs=epochs)
        ),
        keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=patience, restore_best_weights=True
        ),
    ]
