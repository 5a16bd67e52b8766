"""Logs as a platform reads them (Heroku's logplex, `docker logs`): stdout, one line per event.

A traceback written over many lines becomes many unrelated log events, so newlines
inside an event are escaped as a literal ``\\n``.
"""

from __future__ import annotations

import logging
import sys
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
