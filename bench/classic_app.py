"""The classic demo: the model in the request, reading the whole canvas as one digit.

The shape of most MNIST web demos, for comparison only: decode the PNG, lay it on white,
make it grey, resize the whole canvas to 28x28 with Pillow and run both LiteRT models on
that one image, then answer JSON in the POST response. No segmentation, no centring by
the ink's mass, one image a drawing, strokes ignored: it does less work than Digits, and
that is the point of comparing with it. The models and their thresholds are loaded as
``bench.baseline_app`` loads them. Served by the bench as the baseline is, under gunicorn
with 2 workers x 4 threads (gthread):

    gunicorn -w 2 -k gthread --threads 4 "bench.classic_app:create_app()"
"""

from __future__ import annotations

import base64
import binascii
import io
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask, jsonify, request
from PIL import Image

from bench.baseline_app import Models, lazy_models
from shared import answers
from shared.settings import Settings

SIDE = 28


def read(png: bytes, max_side: int) -> np.ndarray:
    """The canvas as one 28x28 uint8 digit, white ink on black, as the models take it."""
    image = Image.open(io.BytesIO(png))
    if max(image.size) > max_side:
        raise ValueError(f"the canvas is {image.size}; at most {max_side} px a side")
    # The page's PNG is transparent with dark ink: on white, as a demo's canvas is.
    paper = Image.new("RGBA", image.size, "white")
    grey = Image.alpha_composite(paper, image.convert("RGBA")).convert("L")
    small = np.asarray(grey.resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=np.uint8)
    return 255 - small


def predict(models: Models, digit: np.ndarray) -> dict[str, Any]:
    """Each model's reading of the one image (as ``shared.answers`` words it)."""
    return {
        name: answers.model_answers(model.predict(digit[None]), threshold, 1)[0]
        for name, (model, threshold) in models().items()
    }


def create_app() -> Flask:
    # Like the baseline: no broker, the web's image limits from its settings.
    settings = Settings.from_env(require_redis=False)
    models = lazy_models(Path(settings.weights_dir))
    app = Flask(__name__)
    # The page's body: a PNG data URL and its strokes (read, then ignored).
    app.config["MAX_CONTENT_LENGTH"] = 2 * settings.max_image_bytes + (1 << 20)

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    @app.post("/api/predictions")
    def create_prediction() -> Any:
        body = request.get_json(silent=True)
        image = body.get("image") if isinstance(body, dict) else None
        if not isinstance(image, str) or "," not in image:
            return jsonify(error={"code": "invalid_request", "message": "need image"}), 400
        try:
            png = base64.b64decode(image.split(",", 1)[1], validate=True)
            digit = read(png, settings.max_image_side)
        except (binascii.Error, Image.DecompressionBombError, ValueError, OSError) as exc:
            return jsonify(error={"code": "invalid_image", "message": str(exc)}), 422
        return jsonify(status="done", result=predict(models, digit)), 200

    return app
