"""The predict worker's tasks: they parse JSON arguments and call plain functions."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from functools import cache
from typing import Any, cast

import numpy as np
from celery.signals import worker_ready

from shared import challengers, fine_tune_jobs, metrics, names, number_reading, prediction_records
from shared.batching import MicroBatcher
from shared.dataset import export_jobs, intake
from shared.dataset.samples import SampleMeta
from shared.errors import DigitsError, InvalidImage
from shared.imaging import MAX_IMAGES, decode_digits
from shared.number_reading import Readings
from shared.shapes import ImageAnswers, JobError, NumberResult, PredictionOutcome
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
def batcher() -> MicroBatcher[tuple[np.ndarray, bool], ImageAnswers]:
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
) -> dict[str, PredictionOutcome]:
    """Each job's outcome: its result, or an error for this job alone (a bad image).

    A job is [id, pixels, readings]: the images are the whole canvas read as one digit,
    then the digits found on it; ``readings`` the ways to read the number, of which the
    surest is kept (``shared.number_reading``). The images of every job go through the
    models as one batch; ``tally`` counts the images each model version read.
    """
    outcomes: dict[str, PredictionOutcome] = {}
    images: dict[str, np.ndarray] = {}
    readings: dict[str, Readings] = {}
    for job in jobs:
        checked = check_job(job)
        if checked is None:
            continue
        job_id, stack, ways = checked
        if isinstance(stack, dict):
            outcomes[job_id] = {"error": stack}
        else:
            images[job_id], readings[job_id] = stack, ways
    if images:
        outcomes.update(read_jobs(images, readings, tally))
    return outcomes


def check_job(job: Any) -> tuple[str, np.ndarray | JobError, Readings] | None:
    """A job's id, images (or why they cannot be read) and readings; None if it names no
    record (dropped, with a warning)."""
    if not (isinstance(job, list) and len(job) == 3 and isinstance(job[0], str)):
        log.warning("dropped a malformed predict job: %.80r", job)
        return None
    job_id, pixels, ways = job
    if not prediction_records.is_job_id(job_id):
        log.warning("dropped a predict job with a malformed id: %.80r", job_id)
        return None
    try:
        stack = decode_digits(pixels, MAX_IMAGES)
    except InvalidImage as exc:
        return job_id, {"code": exc.code, "message": str(exc)}, ways
    if not number_reading.valid(ways, len(stack)):
        message = "the ways to read the number do not fit its images"
        return job_id, {"code": "invalid_image", "message": message}, ways
    return job_id, stack, ways


def read_jobs(
    images: dict[str, np.ndarray], readings: dict[str, Readings], tally: metrics.Tally | None
) -> dict[str, PredictionOutcome]:
    """Every job's images through the models as one batch; each job's number read."""
    try:
        answers = batcher().submit_many(
            [(image, i == 0) for stack in images.values() for i, image in enumerate(stack)]
        )
    except Exception:
        log.exception("the models failed on a batch of %d jobs", len(images))
        failed: JobError = {
            "code": "prediction_failed",
            "message": "the worker could not run the models",
        }
        return {job_id: {"error": failed} for job_id in images}
    if tally is not None:
        count_images(tally, answers)
    outcomes: dict[str, PredictionOutcome] = {}
    start = 0
    for job_id, stack in images.items():
        mine = answers[start : start + len(stack)]
        start += len(stack)
        outcomes[job_id] = {"result": read_number(mine, readings[job_id])}
    return outcomes


def count_images(tally: metrics.Tally, answers: list[ImageAnswers]) -> None:
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


def read_number(answers: list[ImageAnswers], readings: Readings) -> NumberResult:
    """The whole canvas's answers, and the digits of the reading both models are surest of."""
    chosen = number_reading.read(
        readings,
        [number_reading.output_row(answer["cnn"]) for answer in answers],
        [number_reading.output_row(answer["fnn"]) for answer in answers],
    )
    return {**answers[0], "parts": [answers[i] for i in chosen], "chosen": chosen}


def race_collected(sample_id: str, image: np.ndarray, meta: SampleMeta) -> None:
    """A newly collected sample scores the live challengers before it ever enters training.

    Counted once per sample id (a redelivery adds none); a collector's count as one client's.
    """
    if not models().current_and_challengers()[1]:
        return
    answer = predict_digits(models(), [image])[0]
    who = f"collector:{meta['collector']}" if meta.get("collector") else str(meta.get("client"))
    decided = challengers.score_label(
        redis_client(),
        store(),
        sample_id,
        meta.get("label"),
        answer,
        answer.get("shadow", {}),
        who,
        settings().challenger_pairs,
        settings().challenger_max_days,
    )
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


#: What this worker adds around a stored sample (``shared.dataset.intake``).
HOOKS = intake.Hooks(race=race_collected, note_new=maybe_start_fine_tune)


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
def save_sample(sample_id: str, pixels: str, meta: dict[str, Any]) -> intake.Saved:
    """Store a labelled sample (``shared.dataset.intake.save``); idempotent, so a
    redelivery rewrites the same keys.

    A store that refuses it does not lose it: the job waits in the backlog. Only a Redis
    failure is left to Celery's retries.
    """
    return intake.save(redis_client(), store(), sample_id, pixels, cast(SampleMeta, meta), HOOKS)


@worker_ready.connect
def start_backlog_drain(**_: Any) -> None:
    """Every BACKLOG_EVERY seconds, in a thread of this worker, retry parked samples, then
    clear what deletions left behind (``shared.dataset.intake.tend``)."""

    def loop() -> None:
        while True:
            time.sleep(BACKLOG_EVERY)
            try:
                intake.tend(redis_client(), store(), HOOKS)
            except Exception:  # the clients could not be made: next time
                log.warning("the sample backlog was not tended", exc_info=True)

    threading.Thread(target=loop, name="sample-backlog", daemon=True).start()


@app.task(name=names.EXPORT_SAMPLES, acks_late=True, reject_on_worker_lost=True)
def export_samples(job_id: str) -> dict[str, Any]:
    """Write a background export's archive to the store (``shared.dataset.export_jobs``)."""
    job = export_jobs.run_job(redis_client(), store(), job_id)
    log.info("export %s %s: %s samples", job_id, job["status"], job.get("done"))
    return {"id": job_id, "status": job["status"]}
