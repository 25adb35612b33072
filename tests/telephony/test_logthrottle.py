"""A flood of one kind of warning gives a bounded number of log lines, each saying how many
like it were left out, on a controlled clock."""

from __future__ import annotations

import logging

import pytest

from telephony.logthrottle import LogThrottle

log = logging.getLogger("tests.logthrottle")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def suppressed(record: logging.LogRecord) -> int:
    return int(getattr(record, "suppressed", 0))


def test_a_thousand_warnings_over_125_s_give_one_line_per_10_s_with_the_count_left_out(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    throttle = LogThrottle(log, interval_s=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger=log.name):
        for _ in range(1000):  # eight a second for 125 s
            throttle.warning(("refused", "busy"), "connection from %s refused", "peer")
            clock.now += 0.125
        lines = list(caplog.records)
        assert len(lines) == 13, [r.getMessage() for r in lines]
        assert lines[0].getMessage() == "connection from peer refused"
        assert [suppressed(r) for r in lines[1:]] == [79] * 12
        assert "and 79 more like it" in lines[1].getMessage()
        # The 39 since the last line are told with the next one, however late it comes.
        clock.now += 3600
        throttle.warning(("refused", "busy"), "connection from %s refused", "peer")
        assert suppressed(caplog.records[-1]) == 39
        assert len(caplog.records) + sum(suppressed(r) for r in caplog.records) == 1001


def test_each_kind_of_warning_has_its_own_allowance(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    throttle = LogThrottle(log, interval_s=10.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger=log.name):
        for _ in range(100):
            throttle.warning(("refused", "busy"), "busy")
            throttle.warning(("refused", "draining"), "draining")
        clock.now += 10
        throttle.warning(("refused", "busy"), "busy")
        clock.now += 10
        throttle.warning(("refused", "busy"), "busy")
    assert [(r.getMessage().split(" ")[0], suppressed(r)) for r in caplog.records] == [
        ("busy", 0),
        ("draining", 0),
        ("busy", 99),
        ("busy", 0),
    ]
