"""Every log record, ours and the libraries', as one JSON object per line (or readable text).

``logging_config`` is the ``LOGGING`` dictConfig of the settings. Its one handler formats
each record of the standard ``logging`` module (our modules' ``logging.getLogger(__name__)``,
Django's, Celery's, gunicorn's) through structlog's ``ProcessorFormatter``, and structlog's
own loggers (``structlog.get_logger()``) end in the same formatter, so both read alike::

    {"timestamp": "2026-11-25T02:03:04.567Z", "level": "info", "logger": "core.access",
     "event": "request", "request_id": "…", "method": "GET", "route": "/healthz", …}

Whatever is bound with ``structlog.contextvars.bind_contextvars`` (the request id of
core.request_context, a Celery task's name and id) is added to every line logged meanwhile
in that thread. ``human=True`` renders the same fields as aligned text for a terminal.
"""

from __future__ import annotations

import logging
import sys
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import structlog

HANDLER = "console"
# Record attributes every LogRecord has: what is left on a record is an `extra=` of its caller.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Django's `django.request` and `django.server` pass the request itself: its repr holds the
# query string, which may hold what a caller searched for. Never rendered.
_NEVER_RENDERED_EXTRAS = frozenset({"request", "data"})
_FIRST_KEYS = ("timestamp", "level", "logger", "event", "request_id", "task", "task_id")


def logging_config(*, human: bool, level: str) -> dict:
    """The LOGGING setting: records at ``level`` and above, JSON unless ``human``."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": "config.logging.formatter", "human": human},
        },
        "handlers": {
            HANDLER: {"class": "logging.StreamHandler", "formatter": "structured"},
        },
        "root": {"handlers": [HANDLER], "level": level},
        "loggers": {
            # Every SQL statement at DEBUG: far too much, and it shows the values.
            "django.db.backends": {"level": "WARNING"},
            # gunicorn gives its loggers handlers of their own and stops them propagating;
            # naming them here replaces those handlers with ours once Django configures
            # logging in a worker; config/gunicorn.py passes this as its logconfig_dict.
            "gunicorn.error": {"handlers": [HANDLER], "level": level, "propagate": False},
            # Each request is logged once, by the service itself (core/request_context.py).
            "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def formatter(*, human: bool) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of the handler (a dictConfig factory); also configures structlog."""
    structlog_configure(human)
    if human:
        # Plain tracebacks: rich's (structlog's default when rich is installed) print each
        # frame's local variables, which can hold a payer's name or ID number.
        renderer: Any = structlog.dev.ConsoleRenderer(
            colors=_colours(), exception_formatter=structlog.dev.plain_traceback
        )
        processors = [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]
    else:
        processors = [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            _first_keys_first,
            structlog.processors.JSONRenderer(ensure_ascii=False, default=_unrenderable),
        ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(foreign=True), processors=processors
    )


def structlog_configure(human: bool = False) -> None:
    """Route structlog's loggers into the standard library, to end in the same formatter.

    ``human`` does not change what is done here (the formatter renders); it is accepted so
    that a caller configuring both passes one flag.
    """
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(foreign=False),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def log_event(logger: logging.Logger, event: str, **fields: Any) -> None:
    """``event`` with ``fields`` at INFO, rendered as ``structlog.get_logger().info`` renders it.

    For a line written on every request (the access line): it runs the processors that add
    the bound context, the logger's name, the level and the time, and hands the record to
    ``logger`` as structlog does, but skips what only a structlog call needs (a bound
    logger, positional arguments, stack info) and the lookup of the caller's file and line,
    which no formatter of ours renders: about 30 % fewer instructions per line.
    """
    if not logger.isEnabledFor(logging.INFO):
        return
    event_dict: dict[str, Any] = {**fields, "event": event}
    for processor in _EVENT_PROCESSORS:
        event_dict = processor(logger, "info", event_dict)
    record = logger.makeRecord(logger.name, logging.INFO, "(unknown file)", 0, event_dict, (), None)
    # What structlog's wrap_for_formatter attaches, so that the formatter treats it as its own.
    record._logger = logger
    record._name = "info"
    logger.handle(record)


def _shared_processors(*, foreign: bool) -> list:
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if foreign:
        processors.append(_record_extras)
    return processors


_EVENT_PROCESSORS = _shared_processors(foreign=False)


def _record_extras(logger: Any, method_name: str, event_dict: dict) -> dict:
    """A standard-library record's ``extra=`` fields that are plain values.

    Objects (a request, a task's arguments) are left out: their text is not ours to vouch
    for, and a query string or an argument may name a person.
    """
    record = event_dict.get("_record")
    if record is None:
        return event_dict
    for key, value in vars(record).items():
        if (
            key in _RECORD_ATTRIBUTES
            or key in _NEVER_RENDERED_EXTRAS
            or key.startswith("_")
            or key in event_dict
        ):
            continue
        if value is None or isinstance(value, str | int | float | bool):
            event_dict[key] = value
    return event_dict


def _first_keys_first(logger: Any, method_name: str, event_dict: dict) -> dict:
    ordered = {key: event_dict.pop(key) for key in _FIRST_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def _unrenderable(value: object) -> str:
    """Dates, times and ids as text; any other object by its type only, never its repr."""
    if isinstance(value, date | time | timedelta | UUID | Decimal):
        return str(value)
    return f"<{type(value).__name__}>"


def _colours() -> bool:
    stream = sys.stderr
    return bool(getattr(stream, "isatty", None) and stream.isatty())
