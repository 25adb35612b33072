"""Structured log lines: numbers a caller gave are masked, the bot's own time stamp is not."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from click.testing import CliRunner

from dialogue.action_server import _log_refusal
from ivr.cli import main
from ivr.logs import LIBRARIES, _ConsoleFormatter, _JsonFormatter, configure_logging
from ivr.records import new_call_id
from logfields import fields


def _record(message: str, **values: object) -> logging.LogRecord:
    record = logging.LogRecord("ivr.test", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(fields(**values))
    record.created = 1764914213.123
    return record


def test_json_line_keeps_its_time_stamp_and_masks_account_digits() -> None:
    line = _JsonFormatter().format(_record("asr.final", text="account 55501234", n=55501234))
    entry = json.loads(line)
    assert entry["ts"] == 1764914213.123
    assert entry["text"] == "account ****1234"
    assert "55501234" not in line
    assert entry["event"] == "asr.final"


def test_json_line_redacts_a_pin_said_in_a_field() -> None:
    line = _JsonFormatter().format(_record("asr.final", text="my PIN is 4 3 2 1"))
    assert "4 3 2 1" not in line and "4321" not in line
    assert json.loads(line)["text"] == "my PIN is [PIN]"


def test_json_line_masks_numbers_inside_nested_fields() -> None:
    line = _JsonFormatter().format(_record("call.start", extra={"caller": "+4915155501234"}))
    assert "55501234" not in line
    assert "1234" in json.loads(line)["extra"]


def test_a_bot_call_id_stays_readable_in_a_log_line() -> None:
    call_id = new_call_id()
    line = _JsonFormatter().format(_record("call.start", call_id=call_id))
    assert json.loads(line)["call_id"] == call_id


@pytest.mark.parametrize("formatter", [_JsonFormatter(), _ConsoleFormatter()])
def test_a_lower_layer_log_line_shows_its_fields_masked(formatter: logging.Formatter) -> None:
    """dialogue/ logs with plain ``logging.getLogger``; the application's handler renders it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger("dialogue.action_server")
    logger.addHandler(handler)
    try:
        _log_refusal("192.0.2.7", "/webhook?account=55501234", "missing token")
    finally:
        logger.removeHandler(handler)
    line = out.getvalue().strip()
    assert "dialogue.action_server.refused" in line
    assert "55501234" not in line
    if isinstance(formatter, _JsonFormatter):
        entry = json.loads(line)
        assert entry["source"] == "192.0.2.7" and entry["reason"] == "missing token"
        assert entry["path"] == "/webhook?account=****1234"
    else:
        assert "source=192.0.2.7 path=/webhook?account=****1234 reason=missing token" in line


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """Put the test session's logging back after a test configures the application's."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in (*LIBRARIES, "py.warnings")}
    structlog_config = structlog.get_config()
    yield
    root.handlers[:], root.level = handlers, level
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)
    structlog.configure(**structlog_config)
    logging.captureWarnings(False)


def _library_chatter() -> None:
    structlog.get_logger("rasa.core.policies.rule_policy").debug(
        "rule_policy.actions.find", current_states="[state 1] user intent: greet"
    )
    logging.getLogger("rasa_sdk.executor").info("Registered function for 'action_greet'.")
    logging.getLogger("rasa.core.processor").warning("model.outdated")


def test_library_debug_lines_show_only_at_debug_and_never_on_stdout(
    capsys: pytest.CaptureFixture[str], logging_restored: None
) -> None:
    configure_logging("INFO")
    _library_chatter()
    quiet = capsys.readouterr()
    assert quiet.out == ""
    assert "model.outdated" in quiet.err
    assert "[state 1]" not in quiet.err and "Registered function" not in quiet.err

    configure_logging("DEBUG")
    _library_chatter()
    verbose = capsys.readouterr()
    assert verbose.out == ""
    assert "[state 1] user intent: greet" in verbose.err
    assert "Registered function" in verbose.err


def _configured_by_cli(*overrides: str) -> logging.Handler:
    """The log handler ``ivr`` installs for these settings (its ``config`` command does nothing
    else worth a log line)."""
    args = [part for item in overrides for part in ("--set", item)]
    result = CliRunner().invoke(main, [*args, "config"])
    assert result.exit_code == 0, result.output
    (handler,) = logging.getLogger().handlers
    return handler


def test_logging_format_json_writes_one_json_object_a_line_and_console_does_not(
    logging_restored: None,
) -> None:
    record = _record("call.start", call_id="abc", account="55501234")
    line = _configured_by_cli("logging.format=json").format(record)
    entry = json.loads(line)
    assert entry["event"] == "call.start" and entry["account"] == "****1234"
    console = _configured_by_cli("logging.format=console").format(record)
    assert "ivr.test: call.start" in console and "account=****1234" in console
    with pytest.raises(json.JSONDecodeError):
        json.loads(console)


def test_logging_level_sets_the_least_severe_line_shown(logging_restored: None) -> None:
    _configured_by_cli("logging.level=WARNING")
    assert not logging.getLogger("ivr.test").isEnabledFor(logging.INFO)
    assert logging.getLogger("ivr.test").isEnabledFor(logging.WARNING)
    _configured_by_cli("logging.level=DEBUG")
    assert logging.getLogger("ivr.test").isEnabledFor(logging.DEBUG)
