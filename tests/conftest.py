"""Suite-wide test settings: quiet, offline engines and no telemetry."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ivr.loop import keep_asyncio_loop

keep_asyncio_loop()


# Files that call through real SIP peers (baresip, sipp, the bench's own UAC): under
# `make test`'s two workers they share one group, so they never run beside each other.
REAL_SIP_PEER_FILES = frozenset(
    {
        "tests/bench/test_bench_calls.py",
        "tests/bench/test_caller.py",
        "tests/calls/test_qa_calls.py",
        "tests/calls/test_sip_calls.py",
        "tests/telephony/test_baresip.py",
        "tests/telephony/test_sip_server.py",
        "tests/telephony/test_sipp.py",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per test file (its session fixtures stay on one worker); the real-SIP
    files share one."""
    for item in items:
        path = item.nodeid.split("::")[0]
        group = "real-sip-peers" if path in REAL_SIP_PEER_FILES else path
        item.add_marker(pytest.mark.xdist_group(group))
