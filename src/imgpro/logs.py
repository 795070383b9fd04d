"""Structured logs: one JSON object a line, every line of a request carrying its request id."""

from __future__ import annotations

import logging
import sys

import structlog


def configure(level: str = "INFO", json: bool = True) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # the line and its newline in one write: print() made two, a syscall more a request
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        # not cached: tests (structlog.testing.capture_logs) re-route loggers after startup
        cache_logger_on_first_use=False,
    )


log = structlog.get_logger("imgpro")
