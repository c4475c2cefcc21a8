"""config.logging.log_event, the access line's way of logging, writes what structlog writes."""

from __future__ import annotations

import io
import logging
import re

import pytest
import structlog

from config.logging import formatter, log_event

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z")
FIELDS = {"method": "POST", "route": "/notify/<str:channel_code>", "status": 200,
          "duration_ms": 0.8, "client_id": 7}  # fmt: skip


@pytest.fixture
def stream_of():
    """A logger of its own writing through the production formatter, and its output."""
    loggers = []

    def attach(*, human: bool, level: int = logging.INFO) -> tuple[logging.Logger, io.StringIO]:
        logger = logging.getLogger(f"tests.log_event.{len(loggers)}")
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter(human=human))
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(level)
        loggers.append(logger)
        return logger, stream

    yield attach
    for logger in loggers:
        logger.handlers, logger.propagate = [], True


@pytest.mark.parametrize("human", [False, True])
def test_a_line_reads_as_a_structlog_call_of_the_same_logger_writes_it(stream_of, human):
    logger, stream = stream_of(human=human)
    tokens = structlog.contextvars.bind_contextvars(request_id="portal-req.0001", task="t.one")
    try:
        structlog.stdlib.get_logger(logger.name).info("request", **FIELDS)
        log_event(logger, "request", **FIELDS)
    finally:
        structlog.contextvars.reset_contextvars(**tokens)

    by_structlog, by_log_event = TIMESTAMP.sub("<time>", stream.getvalue()).splitlines()
    assert by_log_event == by_structlog
    assert "portal-req.0001" in by_log_event and "<time>" in by_log_event


def test_nothing_is_written_below_the_loggers_level(stream_of):
    logger, stream = stream_of(human=False, level=logging.WARNING)

    log_event(logger, "request", **FIELDS)

    assert stream.getvalue() == ""
