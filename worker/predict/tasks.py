"""The predict worker's tasks: they parse JSON arguments and call plain functions."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from functools import cache
from typing import Any

import numpy as np
from celery.signals import worker_ready

from shared import (
    challengers,
    collectors,
    export_jobs,
    fine_tune_jobs,
    forgetting,
    metrics,
    moderation,
    names,
    number_reading,
    prediction_records,
    sample_backlog,
    sample_index,
)
from shared.batching import MicroBatcher
from shared.errors import DigitsError, InvalidImage
from shared.imaging import MAX_IMAGES, decode_digits, decode_pixels
from shared.number_reading import Readings
from shared.samples import SOURCES, write_sample
from worker.clients import redis_client, settings, store
from worker.predict.celery import app
from worker.predict.inference import SHADOW_CPU, ModelCache, predict_digits

log = logging.getLogger(__name__)
#: Seconds between two tries of the samples the store refused.
BACKLOG_EVERY = 10.0


@cache
def models() -> ModelCache:
    """The models, loaded lazily in each worker process, never in the parent."""
    return ModelCache(store(), settings().model_check_interval, settings().weights_dir)


@cache
def batcher() -> MicroBatcher[tuple[np.ndarray, bool], dict[str, Any]]:
    """Runs the images of the predict messages in this process at once as one model call.

    Each item is (image, whether a live challenger reads it too): only the whole canvas,
    the image a label is about, is read in shadow.
    """
    return MicroBatcher(
        lambda items: predict_digits(models(), [i for i, _ in items], [s for _, s in items]),
        settings().batch_max_size,
        0.0,  # what queued up during the previous call: never wait for more
        name="model-batcher",
    )


# No result and no STARTED state: the outcomes go into the prediction records, published
# to the waiting web processes in one round trip (shared.prediction_records.deliver).
@app.task(name=names.PREDICT_BATCH, ignore_result=True)
def predict_batch(reply_to: str, jobs: list[list[Any]]) -> int:
    """Run both models on a batch of [job id, pixels, readings] from one web process; deliver.

    The batch's metrics travel with its outcomes: no round trip of their own.
    """
    tally = metrics.Tally().observe("predict_batch_jobs", len(jobs))
    outcomes = predict_outcomes(jobs, tally)
    for name, seconds in SHADOW_CPU.take().items():  # this batch's calls, or another's
        tally.count("shadow_cpu_microseconds", round(seconds * 1e6), model=name)
    codes = Counter(o["error"]["code"] if "error" in o else "ok" for o in outcomes.values())
    for code, count in codes.items():
        tally.count("prediction_jobs", count, outcome=code)
    shown = prediction_records.compacted(jobs, outcomes, settings().result_ttl)  # issue 36
    delivered = prediction_records.deliver(redis_client(), reply_to, outcomes, tally, shown)
    if delivered < len(outcomes):
        log.info("%d of %d predictions had no record left", len(outcomes) - delivered, len(jobs))
    return delivered


def predict_outcomes(
    jobs: list[list[Any]], tally: metrics.Tally | None = None
) -> dict[str, dict[str, Any]]:
    """Each job's outcome: its result, or an error for this job alone (a bad image).

    A job is [id, pixels, readings]: the images are the whole canvas read as one digit,
    then the digits found on it; ``readings`` the ways to read the number, of which the
    surest is kept (``shared.number_reading``). The images of every job go through the
    models as one batch; ``tally`` counts the images each model version read.
    """
    outcomes: dict[str, dict[str, Any]] = {}
    images: dict[str, np.ndarray] = {}
    readings: dict[str, Readings] = {}
    for job in jobs:
        if not (isinstance(job, list) and len(job) == 3 and isinstance(job[0], str)):
            log.warning("dropped a malformed predict job: %.80r", job)
            continue
        job_id, pixels, ways = job
        if not prediction_records.is_job_id(job_id):
            log.warning("dropped a predict job with a malformed id: %.80r", job_id)
            continue
        try:
            images[job_id] = decode_digits(pixels, MAX_IMAGES)
        except InvalidImage as exc:
            outcomes[job_id] = {"error": {"code": exc.code, "message": str(exc)}}
            continue
        if not number_reading.valid(ways, len(images[job_id])):
            del images[job_id]
            message = "the ways to read the number do not fit its images"
            outcomes[job_id] = {"error": {"code": "invalid_image", "message": message}}
            continue
        readings[job_id] = ways
    if images:
        try:
            answers = batcher().submit_many(
                [(image, i == 0) for stack in images.values() for i, image in enumerate(stack)]
            )
        except Exception:
            log.exception("the models failed on a batch of %d jobs", len(images))
            failed = {"code": "prediction_failed", "message": "the worker could not run the models"}
            outcomes.update((job_id, {"error": failed}) for job_id in images)
        else:
            if tally is not None:
                count_images(tally, answers)
            start = 0
            for job_id, stack in images.items():
                mine = answers[start : start + len(stack)]
                start += len(stack)
                outcomes[job_id] = {"result": read_number(mine, readings[job_id])}
    return outcomes


def count_images(tally: metrics.Tally, answers: list[dict[str, Any]]) -> None:
    """Each image read, under the version of each model that read it (a challenger apart).

    Versions are counted first: a few field names per batch, not one per image.
    """
    for name in names.MODEL_NAMES:
        for version, images in Counter(answer[name]["version"] for answer in answers).items():
            tally.count("predictions", images, model=name, version=version)
        shadows = Counter(
            a["shadow"][name]["version"] for a in answers if name in a.get("shadow", ())
        )
        for version, images in shadows.items():
            tally.count("shadow_predictions", images, model=name, version=version)


def read_number(answers: list[dict[str, Any]], readings: Readings) -> dict[str, Any]:
    """The whole canvas's answers, and the digits of the reading both models are surest of."""
    sure = number_reading.agreement(
        [number_reading.output_row(answer["cnn"]) for answer in answers],
        [number_reading.output_row(answer["fnn"]) for answer in answers],
    )
    chosen = number_reading.choose(readings, sure)
    return {**answers[0], "parts": [answers[i] for i in chosen], "chosen": chosen}


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
def save_sample(sample_id: str, pixels: str, meta: dict[str, Any]) -> dict[str, Any]:
    """Store a labelled sample; idempotent, so a redelivery rewrites the same keys.

    A store that refuses it does not lose it: the job waits in the backlog (Redis, no
    TTL) until the store takes it. Only a Redis failure is left to Celery's retries.
    """
    image = decode_pixels(pixels)
    try:
        stored = store_unless_deleted(sample_id, image, meta)
    except DigitsError:  # a malformed job is refused, not parked for ever
        raise
    except Exception:
        log.warning("the store refused sample %s; kept in the backlog", sample_id, exc_info=True)
        sample_backlog.push(redis_client(), sample_id, pixels, meta)
        metrics.add(redis_client(), metrics.Tally().count("samples_backlogged"))
        return {"id": sample_id, "backlog": True}
    if stored is None:
        return {"id": sample_id, "deleted": True}
    after_stored(sample_id, image, stored)
    return {"id": sample_id}


def store_unless_deleted(
    sample_id: str, image: np.ndarray, meta: dict[str, Any]
) -> dict[str, Any] | None:
    """Write the sample as moderation left it; the metadata written, or None if deleted.

    A save job can run after a moderator acted on its sample (a redelivery, or a job
    parked in the backlog): a deleted sample must not come back, a hidden one stays hidden,
    and one whose collector was revoked meanwhile is not trusted.
    """
    state = moderation.read_record(store(), sample_id).get("state")
    if state == "deleted":
        log.info("sample %s was deleted; its late save job is dropped", sample_id)
        return None
    if state == "hidden":
        meta = {**meta, "hidden": True}
    if meta.get("collector") and not collectors.is_trusted(store(), str(meta["collector"])):
        meta = collectors.untrusted(meta)  # revoked since it was sent
    write_sample(store(), sample_id, image, meta)
    return meta


def after_stored(sample_id: str, image: np.ndarray, meta: dict[str, Any]) -> None:
    """What follows a stored sample: its race pair, the index, the fine-tune count."""
    if meta.get("source") == "collect" and not meta.get("hidden"):
        race_collected(sample_id, image, meta)
    if sample_index.add(redis_client(), sample_id, meta):
        forgetting.maybe_write_manifest(redis_client(), store())
        source = meta.get("source")
        tally = metrics.Tally().count(
            "samples_stored", source=source if source in SOURCES else "other"
        )
        metrics.add(redis_client(), tally)
    log.info(
        "stored sample %s label=%s source=%s", sample_id, meta.get("label"), meta.get("source")
    )
    maybe_start_fine_tune(sample_id)


def drain_backlog() -> int:
    """Try the backlog's oldest samples again; how many the store took."""
    client, taken = redis_client(), 0
    for raw, entry in sample_backlog.oldest(client):
        image = decode_pixels(entry["pixels"])
        try:
            stored = store_unless_deleted(entry["id"], image, entry["meta"])
        except Exception:  # still down: keep it, and stop this pass
            log.warning(
                "the store still refuses samples; %s waiting", sample_backlog.waiting(client)
            )
            break
        if stored is not None:
            after_stored(entry["id"], image, stored)
            taken += 1
        sample_backlog.done(client, raw)  # last: a failure above leaves it to retry
    return taken


@worker_ready.connect
def start_backlog_drain(**_: Any) -> None:
    """Every BACKLOG_EVERY seconds, in a thread of this worker, retry parked samples, then
    clear what deletions left behind (``shared.forgetting.upkeep``)."""

    def loop() -> None:
        while True:
            time.sleep(BACKLOG_EVERY)
            try:
                if drain_backlog():
                    log.info("stored samples from the backlog")
            except Exception:  # Redis down: try again next time
                log.warning("draining the sample backlog failed", exc_info=True)
            try:
                if done := forgetting.upkeep(redis_client(), store()):
                    log.info("dataset upkeep: %s", done)
            except Exception:  # the store or Redis is down: next time
                log.warning("the dataset upkeep failed", exc_info=True)

    threading.Thread(target=loop, name="sample-backlog", daemon=True).start()


def race_collected(sample_id: str, image: np.ndarray, meta: dict[str, Any]) -> None:
    """A newly collected sample scores the live challengers before it ever enters training.

    Counted once per sample id (a redelivery adds none); a collector's count as one client's.
    """
    if not models().current_and_challengers()[1]:
        return
    answer = predict_digits(models(), [image])[0]
    who = f"collector:{meta['collector']}" if meta.get("collector") else str(meta.get("client"))
    decided = challengers.score_label(
        redis_client(), store(), sample_id, meta.get("label"), answer, answer.get("shadow", {}),
        who, settings().challenger_pairs, settings().challenger_max_days,
    )  # fmt: skip
    for decision in decided:
        log.info(
            "challenger %s v%s %s", decision["model"], decision["version"], decision["decision"]
        )


def maybe_start_fine_tune(sample_id: str) -> None:
    """Every FINE_TUNE_EVERY new labelled samples, start a fine-tune unless one runs or
    one started automatically less than FINE_TUNE_MIN_INTERVAL seconds ago.

    Until then the samples keep accumulating as pending. "Not a digit" (label None) is a
    label too: fine-tunes learn refusals from it.
    """
    client, every = redis_client(), settings().fine_tune_every
    if fine_tune_jobs.note_new_sample(client, sample_id, every):
        interval = settings().fine_tune_min_interval
        job_id = fine_tune_jobs.enqueue_automatic(client, app, interval)
        if job_id is not None:
            log.info("started fine-tune %s after %s new samples", job_id, every)


@app.task(name=names.EXPORT_SAMPLES, acks_late=True, reject_on_worker_lost=True)
def export_samples(job_id: str) -> dict[str, Any]:
    """Write a background export's archive to the store (``shared.export_jobs``)."""
    job = export_jobs.run_job(redis_client(), store(), job_id)
    log.info("export %s %s: %s samples", job_id, job["status"], job.get("done"))
    return {"id": job_id, "status": job["status"]}
