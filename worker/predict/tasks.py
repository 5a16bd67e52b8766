"""The predict worker's tasks: thin wrappers that parse JSON arguments and call plain functions."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from shared import fine_tune_jobs, names
from shared.errors import DigitsError
from shared.imaging import decode_pixels
from shared.samples import write_sample
from worker.clients import redis_client, settings, store
from worker.predict.batching import MicroBatcher
from worker.predict.celery import app
from worker.predict.inference import ModelCache, predict_digits

log = logging.getLogger(__name__)


@cache
def models() -> ModelCache:
    """The models, loaded lazily in each worker process, never in the parent."""
    return ModelCache(store(), settings().model_check_interval, settings().weights_dir)


@cache
def batcher() -> MicroBatcher:
    """Groups the predict jobs running at once in this process into one model call."""
    return MicroBatcher(
        lambda batch: predict_digits(models(), batch),
        settings().batch_max_size,
        settings().batch_max_wait_ms / 1000,
    )


# The result holds a base64 preview: keep the "succeeded" log line short. No STARTED
# write per prediction (one Redis SET and PUBLISH fewer): a prediction lasts
# milliseconds, so clients see "queued" until "done"; fine-tunes still report "running".
@app.task(name=names.PREDICT, resultrepr_maxsize=200, track_started=False)
def predict(pixels: str) -> dict[str, Any]:
    """Run both models on a preprocessed 28x28 digit; answer with digits, probabilities, versions."""
    return batcher().submit(decode_pixels(pixels))


@app.task(
    name=names.SAVE_SAMPLE,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    dont_autoretry_for=(DigitsError,),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=20,
)
def save_sample(sample_id: str, pixels: str, meta: dict[str, Any]) -> dict[str, str]:
    """Store a labelled sample; idempotent, so a redelivery rewrites the same keys."""
    write_sample(store(), sample_id, decode_pixels(pixels), meta)
    log.info(
        "stored sample %s label=%s source=%s", sample_id, meta.get("label"), meta.get("source")
    )
    if meta.get("label") is not None:
        maybe_start_fine_tune(sample_id, int(meta["label"]))
    return {"id": sample_id}


def maybe_start_fine_tune(sample_id: str, label: int) -> None:
    """Every FINE_TUNE_EVERY new labelled samples, start a fine-tune unless one runs."""
    client, every = redis_client(), settings().fine_tune_every
    if fine_tune_jobs.note_new_sample(client, sample_id, label, every):
        job_id = fine_tune_jobs.enqueue(client, app, reason="samples")
        if job_id is not None:
            log.info("started fine-tune %s after %s new samples", job_id, every)
