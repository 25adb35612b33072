"""Caller scripts: what a simulated caller does, step by step, and what the bot should do back.

A script is a YAML file (the shipped suite is ``data/qa/*.yml``)::

    name: balance                       # optional; the file name without .yml otherwise
    description: a verified caller checks the balance
    caller: {engine: piper, rate: 1.0, snr_db: 25, codec: ulaw}   # optional voice
    greeting: how can i help            # optional: a regex the greeting must match
    steps:
      - say: what's my balance          # speak (synthesised, over the G.711 line)
        intent: check_balance           # expected intent of this turn
        bot: account number             # regex (case-insensitive) the bot's reply must match
      - press: "31415926"               # key digits
      - pin: "2468"                     # key a PIN: never shown in a report
        bot: balance
      - wait: 7                         # silence for 7 s (no-input handling)
      - hang_up: true
    expect:
      outcome: self_served              # self_served, handed_off, abandoned or failed
      handoff: caller_request           # the handoff reason, or none

A malformed script is refused with its file, line and field named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, NoReturn, get_args

import yaml

from ivr.logs import mask_digits
from ivr.qa.voice import CALLER_ENGINES, CallerVoice

Action = Literal["say", "press", "pin", "wait", "hang_up"]
ACTIONS: tuple[str, ...] = get_args(Action)
OUTCOMES = ("self_served", "handed_off", "abandoned", "failed")
_STEP_KEYS = {*ACTIONS, "intent", "bot"}
_KEYS = re.compile(r"^[0-9*#]+$")


class ScriptError(ValueError):
    """A caller script cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class Step:
    """One thing the caller does, and what should follow."""

    action: Action
    value: str
    """Text to say, keys to press, seconds to wait (as text); empty for hang_up."""
    line: int
    intent: str | None = None
    bot: str | None = None
    """Regex the bot's reply to this step must match (case-insensitive)."""

    @property
    def shown(self) -> str:
        """The step as a report may show it: a PIN is never shown."""
        if self.action == "pin":
            return "pin: ****"
        if self.action == "hang_up":
            return "hang_up"
        return f"{self.action}: {mask_digits(self.value)}"


@dataclass(frozen=True)
class Script:
    """A whole scripted call."""

    name: str
    path: Path
    steps: tuple[Step, ...]
    description: str = ""
    voice: CallerVoice = field(default_factory=CallerVoice)
    greeting: str | None = None
    outcome: str | None = None
    handoff: str | None = None
    """Expected handoff reason; "none" means no handoff may happen."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """The PINs in this script, to be kept out of every report."""
        return tuple(s.value for s in self.steps if s.action == "pin")


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line each mapping starts on (as ``__line__``)."""


def _mapping_with_line(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    mapping = {str(k): v for k, v in loader.construct_mapping(node, deep=True).items()}
    mapping["__line__"] = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_with_line)


def load_script(path: str | Path, voice: CallerVoice | None = None) -> Script:
    """Read and check one script file; ``voice`` is the caller's voice where the script's
    ``caller:`` names none (the configured ``qa.caller_*``), and fills the fields it leaves out."""
    path = Path(path)
    if not path.is_file():
        raise ScriptError(f"{path}: no such script file")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_LineLoader)
    except yaml.YAMLError as exc:
        raise ScriptError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ScriptError(f"{path}: a script is a mapping with at least 'steps'")
    where = _Where(path)
    unknown = set(data) - {
        "__line__",
        "name",
        "description",
        "caller",
        "greeting",
        "steps",
        "expect",
    }
    if unknown:
        where.fail(data, sorted(unknown)[0], "unknown field")
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps:
        where.fail(data, "steps", "must be a non-empty list of steps")
    expect = data.get("expect") or {"__line__": data["__line__"]}
    if not isinstance(expect, dict):
        where.fail(data, "expect", "must be a mapping (outcome, handoff)")
    return Script(
        name=str(data.get("name") or path.stem),
        path=path,
        description=str(data.get("description") or ""),
        steps=tuple(_step(where, raw) for raw in steps),
        voice=_voice(where, data.get("caller"), voice or CallerVoice()),
        greeting=_regex(where, data, "greeting"),
        outcome=_outcome(where, expect),
        handoff=_text(where, expect, "handoff"),
    )


def load_scripts(paths: list[str | Path], voice: CallerVoice | None = None) -> list[Script]:
    """Every script named, folders expanded to their ``*.yml`` files in name order (``voice``:
    as for :func:`load_script`)."""
    files: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found = sorted([*item.glob("*.yml"), *item.glob("*.yaml")])
            if not found:
                raise ScriptError(f"{item}: no .yml scripts in this folder")
            files.extend(found)
        else:
            files.append(item)
    return [load_script(f, voice) for f in files]


@dataclass
class _Where:
    path: Path

    def fail(self, node: Any, key: str, problem: str) -> NoReturn:
        line = node.get("__line__", "?") if isinstance(node, dict) else "?"
        raise ScriptError(f"{self.path}:{line}: {key}: {problem}")


def _step(where: _Where, raw: Any) -> Step:
    if not isinstance(raw, dict):
        raise ScriptError(f"{where.path}: every step is a mapping, got {raw!r}")
    unknown = set(raw) - _STEP_KEYS - {"__line__"}
    if unknown:
        where.fail(raw, sorted(unknown)[0], f"unknown step field (known: {', '.join(_STEP_KEYS)})")
    actions = [a for a in ACTIONS if a in raw]
    if len(actions) != 1:
        where.fail(raw, "step", f"needs exactly one of {', '.join(ACTIONS)}")
    action: Action = actions[0]  # type: ignore[assignment]
    value = raw[action]
    if action == "say":
        if not isinstance(value, str) or not value.strip():
            where.fail(raw, "say", "must be the words to say")
    elif action in ("press", "pin"):
        value = str(value) if isinstance(value, (str, int)) else ""
        if not _KEYS.match(value):
            where.fail(raw, action, "must be keypad keys (0-9, * and #), quoted")
    elif action == "wait":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
            where.fail(raw, "wait", "must be seconds of silence between 0 and 60")
        value = f"{value:g}"
    elif value is not True:
        where.fail(raw, "hang_up", "must be true")
    return Step(
        action=action,
        value="" if action == "hang_up" else str(value),
        line=raw["__line__"],
        intent=_text(where, raw, "intent"),
        bot=_regex(where, raw, "bot"),
    )


def _text(where: _Where, node: dict[str, Any], key: str) -> str | None:
    value = node.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        where.fail(node, key, "must be text")
    return str(value).strip()


def _regex(where: _Where, node: dict[str, Any], key: str) -> str | None:
    value = _text(where, node, key)
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            where.fail(node, key, f"not a valid regular expression ({exc})")
    return value


def _outcome(where: _Where, expect: dict[str, Any]) -> str | None:
    value = _text(where, expect, "outcome")
    if value is not None and value not in OUTCOMES:
        where.fail(expect, "outcome", f"must be one of {', '.join(OUTCOMES)}")
    unknown = set(expect) - {"outcome", "handoff", "__line__"}
    if unknown:
        where.fail(expect, sorted(unknown)[0], "unknown expectation (outcome, handoff)")
    return value


def _voice(where: _Where, raw: Any, default: CallerVoice) -> CallerVoice:
    if raw is None:
        return default
    if not isinstance(raw, dict):
        raise ScriptError(f"{where.path}: caller: must be a mapping (engine, voice, rate, ...)")
    values = {k: v for k, v in raw.items() if k != "__line__"}
    known = {"engine", "voice", "rate", "snr_db", "codec"}
    if set(values) - known:
        where.fail(raw, sorted(set(values) - known)[0], "unknown caller field")
    if values.get("engine", "piper") not in CALLER_ENGINES:
        where.fail(raw, "engine", f"must be one of {', '.join(CALLER_ENGINES)}")
    if values.get("codec", "ulaw") not in ("ulaw", "alaw", "none"):
        where.fail(raw, "codec", "must be ulaw, alaw or none")
    for key, low, high in (("rate", 0.5, 2.0), ("snr_db", 0.0, 60.0)):
        number = values.get(key)
        if number is not None and (
            isinstance(number, bool)
            or not isinstance(number, (int, float))
            or not low <= number <= high
        ):
            where.fail(raw, key, f"must be a number from {low:g} to {high:g}")
    return replace(default, **values)
