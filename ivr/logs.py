"""Structured logging: one event name plus key=value fields, as JSON lines or readable console text.

Use ``log = get_logger(__name__)`` and ``log.info("asr.final", extra=fields(call_id=..., ms=...))``
with ``fields`` from :mod:`logfields`, as the lower layers do with ``logging.getLogger``; the
handler installed here renders their fields the same way.
A last-line-of-defence filter masks digit runs that look like card or account numbers and
digits said after a PIN word.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from dialogue.bank.redaction import redact_secrets
from logfields import FIELDS_ATTRIBUTE


def mask_digits(text: str) -> str:
    """Mask every run of 8+ digits, in numerals or words, to its last four (account and card
    numbers) and replace digits said after a PIN word: see ``dialogue.bank.redaction``."""
    return redact_secrets(text).text


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        entry.update(getattr(record, FIELDS_ATTRIBUTE, {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        # Each value is masked on its own, so the line stays valid JSON; the time stamp is
        # the bot's own clock, not a number a caller gave.
        masked = {"ts": round(record.created, 3)}
        masked.update({key: _masked(value) for key, value in entry.items()})
        return json.dumps(masked, default=str)


def _masked(value: Any) -> Any:
    """``value`` as it may be logged: unchanged, or as masked text when it held a number."""
    if isinstance(value, str):
        return mask_digits(value)
    if value is None or isinstance(value, bool):
        return value
    text = str(value) if isinstance(value, (int, float)) else json.dumps(value, default=str)
    masked = mask_digits(text)
    return value if masked == text else masked


class _ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        extra = " ".join(f"{k}={v}" for k, v in getattr(record, FIELDS_ATTRIBUTE, {}).items())
        line = (
            f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()} {extra}".rstrip()
        )
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return mask_digits(line)


LIBRARIES = (
    "rasa",
    "rasa_sdk",
    "sanic",
    "sanic.root",
    "sanic.error",
    "sanic.access",
    "tensorflow",
    "absl",
    "matplotlib",
    "urllib3",
    "faster_whisper",
    "numba",
)
"""Loggers of the libraries under the bot. Their info and debug lines (Rasa's policy states and
slot dumps, Sanic's banner) are for whoever debugs the bot, not for the operator reading a
command's results: they show at DEBUG (``ivr --verbose``) only, their warnings always. Python
warnings (the libraries' deprecations) are logged as ``py.warnings`` and show at DEBUG only."""


def configure_logging(level: str = "INFO", fmt: str = "console") -> None:
    """Install the structured handler on the root logger, once for every library (idempotent).

    Rasa logs through structlog, which unconfigured prints every debug event to stdout, in the
    middle of a command's results; routed here it obeys the level and passes the masking.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    verbose = root.level <= logging.DEBUG
    libraries = logging.DEBUG if verbose else max(logging.WARNING, root.level)
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(libraries)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").setLevel(logging.DEBUG if verbose else logging.ERROR)
    route_structlog(libraries)


def route_structlog(level: int) -> None:
    """Send structlog's events (Rasa's) through the standard ``logging`` handlers at ``level``."""
    import structlog

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.processors.add_log_level,
            structlog.processors.KeyValueRenderer(key_order=["event"]),
        ],
        context_class=dict,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
