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
