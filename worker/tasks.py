"""Celery tasks: thin wrappers that parse JSON arguments and call plain functions."""

from __future__ import annotations

import logging
import time
from functools import cache
from typing import Any

import redis
from celery.signals import worker_ready

from shared import fine_tunes, names, registry
from shared.celery_client import ssl_options
from shared.errors import DigitsError
from shared.imaging import decode_pixels
from shared.samples import write_sample
from shared.storage import Store, open_store
from worker.batching import MicroBatcher
from worker.celery_app import app, settings
from worker.inference import ModelCache, predict_digits

log = logging.getLogger(__name__)


@cache
def store() -> Store:
    """The object store, opened once per worker process (after fork)."""
    return open_store(settings.storage_url, settings.s3_endpoint_url)


@cache
def redis_client() -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url, **(ssl_options(settings.redis_url) or {}))


@cache
def models() -> ModelCache:
    """The models, loaded lazily in each worker process, never in the parent."""
    return ModelCache(store(), settings.model_check_interval, settings.weights_dir)


@cache
def batcher() -> MicroBatcher:
    """Groups the predict jobs running at once in this process into one model call."""
    return MicroBatcher(
        lambda batch: predict_digits(models(), batch),
        settings.batch_max_size,
        settings.batch_max_wait_ms / 1000,
    )


@worker_ready.connect
def publish_shipped_models(**_: Any) -> None:
    """First start: publish the shipped weights as version 1 (a copy of bytes, no TensorFlow).

    Runs in the parent process, so it opens its own store instead of the per-child one.
    """
    versions = registry.ensure_initial_versions(
        open_store(settings.storage_url, settings.s3_endpoint_url), settings.weights_dir
    )
    log.info("current model versions: %s", versions)


# The result holds a base64 preview: keep the "succeeded" log line short.
@app.task(name=names.PREDICT, resultrepr_maxsize=200)
def predict(pixels: str) -> dict[str, Any]:
    """Run both models on a preprocessed 28x28 digit; answer with digits, probabilities, versions."""
    return batcher().submit(decode_pixels(pixels))


@app.task(
    name=names.SAVE_SAMPLE,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(Exception,),
    dont_autoretry_for=(DigitsError,),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=20,
)
def save_sample(self: Any, sample_id: str, pixels: str, meta: dict[str, Any]) -> dict[str, str]:
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
    client = redis_client()
    if fine_tunes.note_new_sample(client, sample_id, label, settings.fine_tune_every):
        job_id = fine_tunes.start_job(client, reason="samples")
        if job_id is not None:
            app.send_task(names.FINE_TUNE, args=[job_id], task_id=job_id, queue=names.QUEUE_TRAIN)
            log.info("started fine-tune %s after %s new samples", job_id, settings.fine_tune_every)


@app.task(
    name=names.FINE_TUNE,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=fine_tunes.TIME_LIMIT,
    soft_time_limit=fine_tunes.TIME_LIMIT - 60,
)
def fine_tune(job_id: str) -> dict[str, Any]:
    """Run one fine-tune job; a redelivered job that already finished does nothing."""
    from worker.fine_tuning import run_fine_tune  # TensorFlow: imported in the trainer only

    client = redis_client()
    job = fine_tunes.read_job(client, job_id)
    if job is None or job["status"] in fine_tunes.FINISHED:
        return {"id": job_id, "status": job["status"] if job else "unknown"}
    # A job redelivered after its trainer died may have outlived its lock: take it again,
    # unless another job started meanwhile (then this one must not run beside it).
    if not fine_tunes.claim(client, job_id):
        fine_tunes.finish(client, job_id, "failed", error="another fine-tune started meanwhile")
        return {"id": job_id, "status": "failed"}
    pending = fine_tunes.pending_samples(client)
    fine_tunes.update(client, job_id, status="running", started_at=time.time())

    def report(step: int, total: int, loss: float) -> None:
        fields: dict[str, Any] = {"step": step, "loss": round(loss, 5)}
        if total >= 0:
            fields["total"] = total
        fine_tunes.update(client, job_id, **fields)

    try:
        outcome = run_fine_tune(
            store(), settings.mnist_path, settings.weights_dir, report, new_ids=pending
        )
    except Exception as exc:
        fine_tunes.finish(client, job_id, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    used = outcome.pop("used_sample_ids")
    fine_tunes.finish(client, job_id, outcome["outcome"], result=outcome)
    fine_tunes.clear_pending(client, pending)
    log.info("fine-tune %s %s in %s s", job_id, outcome["outcome"], outcome["seconds"])
    return {"id": job_id, "status": outcome["outcome"], "samples": len(used)}
