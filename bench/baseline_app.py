"""The synchronous baseline: the classic TensorFlow-demo shape, for comparison only.

A small Flask app that runs the same LiteRT models inside the request and answers
the prediction in the POST response. It reads the canvas as Digits does (the whole
canvas, and each digit found on it, in one model call per model), so both do the same
work per drawing. Served by the bench under gunicorn with
2 workers x 4 threads (gthread):

    gunicorn -w 2 -k gthread --threads 4 "bench.baseline_app:create_app()"
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask, jsonify, request

from shared import answers, number_reading
from shared.canvas import Canvas, preprocess_canvas_data_url
from shared.errors import DigitsError
from shared.imaging import MAX_DIGITS, png_data_url
from shared.names import MODEL_NAMES
from shared.settings import Settings
from worker.lite_model import LiteModel

Models = Callable[[], dict[str, tuple[LiteModel, float]]]


def lazy_models(weights: Path) -> Models:
    """The models and their thresholds, loaded on first use in each gunicorn worker process."""

    @cache
    def models() -> dict[str, tuple[LiteModel, float]]:
        return {
            name: (
                LiteModel.from_path(weights / f"{name}.tflite"),
                answers.threshold_of(json.loads((weights / f"{name}.metrics.json").read_text())),
            )
            for name in MODEL_NAMES
        }

    return models


def predict(models: Models, canvas: Canvas) -> dict[str, Any]:
    loaded = models()
    rows = {name: model.predict(np.stack(canvas.images)) for name, (model, _) in loaded.items()}
    read = {name: answers.model_answers(rows[name], loaded[name][1], 1) for name in rows}

    def reading(index: int) -> dict[str, Any]:
        return {name: read[name][index] for name in rows}

    # As the predict worker does: the models' agreement chooses how to read the number.
    chosen = number_reading.read(canvas.readings, rows["cnn"].tolist(), rows["fnn"].tolist())
    digits = [
        {"box": canvas.boxes[i], "preview": png_data_url(canvas.images[i]), **reading(i)}
        for i in chosen
    ]
    return {
        **reading(0),
        "preview": png_data_url(canvas.whole),
        "number": number_reading.answer(reading(0), digits),
    }


def create_app() -> Flask:
    # The baseline never touches the broker: REDIS_URL may be unset. Its image limits are
    # the web's settings (it has no decode slots: its threads are its bound).
    settings = Settings.from_env(require_redis=False)
    models = lazy_models(Path(settings.weights_dir))
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 2 * settings.max_image_bytes

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.post("/api/predictions")
    def create_prediction() -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or "image" not in body:
            return jsonify(error={"code": "invalid_request", "message": "need image"}), 400
        try:
            canvas = preprocess_canvas_data_url(
                body["image"],
                settings.max_image_bytes,
                settings.max_image_side,
                MAX_DIGITS,
                settings.max_image_pixels,
            )
        except DigitsError as exc:
            return jsonify(error={"code": "invalid_image", "message": str(exc)}), 422
        return jsonify(status="done", result=predict(models, canvas)), 200

    return app
