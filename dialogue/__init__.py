"""The Rasa assistant of the hotline: domain, config, custom actions, bank backend, client."""

from __future__ import annotations

import os


def quiet_rasa_environment() -> None:
    """Environment for running Rasa in our processes: no telemetry, fewer library banners.

    Call before importing ``rasa``; idempotent, and explicit settings by the user win.
    """
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


quiet_rasa_environment()


def route_rasa_logs(level: int | str = "INFO") -> None:
    """Send Rasa's structured (structlog) events through the standard ``logging`` handlers.

    Unconfigured, structlog prints every debug event to stdout, including parse results;
    routed here they obey the application's level and pass the log masking filter.
    """
    import logging

    import structlog

    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            structlog.processors.add_log_level,
            structlog.processors.KeyValueRenderer(key_order=["event"]),
        ],
        context_class=dict,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    logging.getLogger("rasa").setLevel(numeric)
