"""Logs as a platform reads them (Heroku's logplex, `docker logs`): stdout, one line per event.

A traceback written over many lines becomes many unrelated log events, so newlines
inside an event are escaped as a literal ``\\n``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, Mapping
from typing import Any


class OneLineFormatter(logging.Formatter):
    """Formats a record as ``inner`` (or this formatter's own format) would, on one line."""

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        inner: logging.Formatter | None = None,
    ) -> None:
        super().__init__(fmt, datefmt)
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record) if self.inner else super().format(record)
        return text.replace("\r", "").replace("\n", "\\n")


def celery_handlers_to_stdout(logger: logging.Logger, logfile: str | None = None, **_: Any) -> None:
    """Celery's ``after_setup_*logger`` hook: its stderr handlers write one line per event to stdout.

    Celery's own formatter (with the task name and id) stays inside the one-line wrapper;
    Python warnings become log events too, instead of multi-line text on stderr.
    """
    logging.captureWarnings(True)
    for handler in logger.handlers:
        if logfile is None and isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.__stdout__)
        if not isinstance(handler.formatter, OneLineFormatter):
            handler.setFormatter(OneLineFormatter(inner=handler.formatter or logging.Formatter()))


#: The loggers of Celery's per-task INFO lines: "Task ... received" and "... succeeded in".
CELERY_TASK_LOGGERS = ("celery.worker.strategy", "celery.app.trace")


class WithoutTaskLines(logging.Filter):
    """Drops Celery's per-task INFO lines for ``tasks``; warnings and errors still pass.

    A prediction batch arrives hundreds of times a second under load: two lines each
    flood the platform's log and cost the predict worker 6 % of its CPU (py-spy, 32
    clients). Celery passes each line's fields as one mapping, with the task's ``name``.
    """

    def __init__(self, tasks: Iterable[str]) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        fields = record.args
        return not (isinstance(fields, Mapping) and fields.get("name") in self.tasks)


def quiet_celery_task_lines(tasks: Iterable[str]) -> None:
    """Install ``WithoutTaskLines(tasks)`` on Celery's per-task loggers in this process."""
    quiet = WithoutTaskLines(tasks)
    for name in CELERY_TASK_LOGGERS:
        logging.getLogger(name).addFilter(quiet)
