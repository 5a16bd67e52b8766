"""The learning loop seen from web: model versions, rollback, fine-tune and retrain jobs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared import challengers, fine_tune_jobs, names, registry
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.shapes import Race, RaceDecision, TrainingJob
from shared.storage import StoreUnavailable
from web.services import Services

log = logging.getLogger(__name__)


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn the object store's failures (S3's, or a directory's OSError) into the one
    ``StoreUnavailable`` web answers 503 ``store_unavailable`` (web.errors)."""
    try:
        yield
    except (OSError, BotoCoreError, ClientError) as exc:
        log.warning("the object store failed: %s", exc)
        raise StoreUnavailable("the object store is not reachable; try again shortly") from None


def list_models(services: Services) -> dict[str, Any]:
    """Each model's current version, its live challenger, and every complete version with
    its metrics; the challengers' past decisions; the latest training job, whoever started
    it, and why none can start now, if so. Read only, like every GET."""
    store = services.store
    with store_errors():
        current = registry.read_manifest(store) or {}
        models = {}
        for name in names.MODEL_NAMES:
            versions = [
                registry.read_metrics(store, name, v) for v in registry.version_numbers(store, name)
            ]
            models[name] = {
                "current": current.get(name),
                "challenger": _shown_race(services, name),
                "versions": versions,
            }
        history = challengers.history(store)
    return {
        "models": models,
        "fine_tune": fine_tune_jobs.active_job(services.redis),
        "latest_fine_tune": fine_tune_jobs.latest_job(services.redis),
        "fine_tune_blocked": fine_tune_blocked(
            services, [m["challenger"] for m in models.values()]
        ),
        "challenger_history": history,
    }


def fine_tune_blocked(services: Services, races: list[Any]) -> str | None:
    """Why an admin's fine-tune cannot start now, or None: "busy" while a job holds the
    lock; "all_racing" when every model's challenger races (``races``, each model's live
    race or None: a round would skip them all)."""
    if fine_tune_jobs.active_job(services.redis):
        return "busy"
    if services.settings.challenger_pairs and all(races):
        return "all_racing"
    return None


def _race(services: Services, name: str) -> Race | None:
    """The live race of ``name`` as it stands, or None. A ``decision`` shown is not taken
    here: a race is decided where its pairs are counted, or by the trainer's sweep."""
    settings = services.settings
    return challengers.status(
        services.redis,
        services.store,
        name,
        settings.challenger_pairs,
        settings.challenger_max_days,
    )


def _shown_race(services: Services, name: str) -> dict[str, Any] | None:
    """The race as the pages show it: with ``pairs_needed``, the pairs that decide it at
    the latest (CHALLENGER_PAIRS; 0 with the stage off, when an admin decides)."""
    race = _race(services, name)
    return None if race is None else {**race, "pairs_needed": services.settings.challenger_pairs}


def races(services: Services) -> dict[str, Any]:
    """The stats page's view: each live race, and the past decisions (newest first)."""
    with store_errors():
        live = {name: _shown_race(services, name) for name in names.MODEL_NAMES}
        history = challengers.history(services.store)
    return {
        "live": {name: race for name, race in live.items() if race is not None},
        "history": history,
    }


def decide_challenger(services: Services, name: str, decision: str) -> RaceDecision:
    """An admin promotes or retires the live challenger by hand (also with the stage off,
    or before enough people have raced it); the decision is recorded."""
    if name not in names.MODEL_NAMES:
        raise NotFound(f"no model named {name!r}")
    with store_errors():
        race = _race(services, name)
        if race is None:
            raise NotFound(f"model {name} has no live challenger")
        return challengers.settle(services.redis, services.store, name, decision, race, "admin")


#: Outcomes of versions that never served: nothing to roll back to.
NEVER_SERVED = (*registry.NEVER_SERVED, "challenger")


def rollback(services: Services, name: str, version: int) -> dict[str, int]:
    """Serve an earlier version again: one that has served (shipped or promoted) before."""
    if name not in names.MODEL_NAMES:
        raise NotFound(f"no model named {name!r}")
    with store_errors():
        outcome = registry.read_metrics(services.store, name, version).get("outcome")
        if outcome in NEVER_SERVED:
            raise Conflict(f"{name} v{version} never served ({outcome}): roll back to one that did")
        return registry.promote(services.store, {name: version})


def _busy_with(services: Services) -> str:
    """The job that holds the lock, or why none does yet (an interrupted job in its grace)."""
    active = fine_tune_jobs.active_job(services.redis)
    return active or "an interrupted job is being settled; try again in a minute"


def start_fine_tune(services: Services, reason: str = "admin") -> str:
    """Queue a fine-tune; a Conflict while a job runs. One queued while every model's
    challenger races is accepted and ends "skipped" (the Models page says why before)."""
    job_id = fine_tune_jobs.enqueue(services.redis, services.celery, reason)
    if job_id is None:
        raise Conflict(f"a fine-tune is already running: {_busy_with(services)}")
    return job_id


#: Epochs an admin may ask a retrain for (the shipped models had 32 for the CNN, 25 for the FNN).
RETRAIN_EPOCHS = (1, 50)
#: Fewest MNIST training digits a retrain may be limited to.
MIN_MNIST_LIMIT = 100


def retrain_options(body: dict[str, Any]) -> dict[str, int]:
    """``{"epochs"?, "mnist_limit"?}`` checked; an absent one keeps the trainer's default."""
    options = {}
    low, high = RETRAIN_EPOCHS
    epochs = body.get("epochs")
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or not low <= epochs <= high:
            raise InvalidRequest(f"epochs must be an integer from {low} to {high}")
        options["epochs"] = epochs
    limit = body.get("mnist_limit")
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < MIN_MNIST_LIMIT:
            raise InvalidRequest(f"mnist_limit must be an integer of at least {MIN_MNIST_LIMIT}")
        options["mnist_limit"] = limit
    return options


def start_retrain(services: Services, options: dict[str, int]) -> str:
    """Queue a full retrain: both models from scratch on MNIST and every sample."""
    job_id = fine_tune_jobs.enqueue(
        services.redis, services.celery, "admin", kind="retrain", options=options
    )
    if job_id is None:
        raise Conflict(
            f"a training job (fine-tune or retrain) is already running: {_busy_with(services)}"
        )
    return job_id


def fine_tune_status(services: Services, job_id: str) -> TrainingJob:
    # A job whose trainer died holds no lock: failed on the way, so that its status never
    # says "running" for ever, whether or not a trainer runs to notice.
    fine_tune_jobs.settle(services.redis, [job_id])
    job = fine_tune_jobs.read_job(services.redis, job_id)
    if job is None:
        raise NotFound("no fine-tune with this id")
    return job
