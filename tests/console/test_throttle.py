"""The log-in throttle's tables stay bounded: past ``max_tracked`` keys the least recently seen
is forgotten, so a flood of names or addresses costs fixed memory."""

from __future__ import annotations

from ivr.console.throttle import LoginThrottle
from tests.console.conftest import Clock


def test_the_tables_forget_the_least_recent_name_and_address_when_full() -> None:
    throttle = LoginThrottle(per_name=1, per_address=1, window_s=60, clock=Clock(), max_tracked=3)
    for index in range(3):
        throttle.attempt(f"name{index}", f"10.0.0.{index}")
    assert all(throttle.retry_after(f"name{i}", "10.0.0.9") == 60 for i in range(3))
    assert all(throttle.retry_after("someone", f"10.0.0.{i}") == 60 for i in range(3))
    throttle.attempt("name3", "10.0.0.3")  # a fourth of each: the first ones are forgotten
    assert throttle.retry_after("name0", "10.0.0.0") == 0
    assert throttle.retry_after("name3", "10.0.0.9") == 60
    assert throttle.retry_after("someone", "10.0.0.3") == 60
