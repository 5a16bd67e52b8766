"""The learning loop seen from web: model versions, rollback, fine-tune jobs."""

from __future__ import annotations

from typing import Any

from shared import fine_tune_jobs, names, registry
from shared.errors import Conflict, NotFound
from web.services import Services


def list_models(services: Services) -> dict[str, Any]:
    """Each model's current version, and every complete version with its metrics."""
    store = services.store
    current = registry.read_manifest(store) or {}
    models = {}
    for name in names.MODEL_NAMES:
        versions = [
            registry.read_metrics(store, name, v) for v in registry.version_numbers(store, name)
        ]
        models[name] = {"current": current.get(name), "versions": versions}
    return {"models": models, "fine_tune": fine_tune_jobs.active_job(services.redis)}


def rollback(services: Services, name: str, version: int) -> dict[str, int]:
    if name not in names.MODEL_NAMES:
        raise NotFound(f"no model named {name!r}")
    return registry.promote(services.store, {name: version})


def start_fine_tune(services: Services, reason: str = "admin") -> str:
    job_id = fine_tune_jobs.enqueue(services.redis, services.celery, reason)
    if job_id is None:
        active = fine_tune_jobs.active_job(services.redis)
        raise Conflict(f"a fine-tune is already running: {active}")
    return job_id


def fine_tune_status(services: Services, job_id: str) -> dict[str, Any]:
    job = fine_tune_jobs.read_job(services.redis, job_id)
    if job is None:
        raise NotFound("no fine-tune with this id")
    return job
