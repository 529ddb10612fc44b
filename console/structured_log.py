"""Structured logging: JSON lines in the state dir, secrets redacted (DESIGN §7).

The console owns the terminal, so nothing is ever logged to stdout/stderr while the
UI runs; everything goes to ``$XDG_STATE_HOME/watchfloor/watchfloor.log``.
Context fields used across the code base: ``environment_name``, ``deployment_id``,
``service_version``, ``deployment_status``, ``error_context``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import structlog

from console.redact import redact_data

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def _redact(_logger, _method, event_dict):
    return redact_data(event_dict)


def configure(path: Path, level: str = "info") -> Path:
    """Send structlog output, as JSON lines, to ``path`` at ``level``.

    Returns the path written to. The file is created 0600: logs can hold names of
    things operators would rather not share.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    stream = os.fdopen(fd, "a", buffering=1, encoding="utf-8")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            _redact,
            structlog.processors.JSONRenderer(sort_keys=True),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    return path
