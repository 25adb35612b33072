"""Suite-wide test settings: quiet, offline engines and no telemetry."""

from __future__ import annotations

import os

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ivr.loop import keep_asyncio_loop

keep_asyncio_loop()
