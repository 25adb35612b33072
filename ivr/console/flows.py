"""The assistant's flows as the project files state them: forms with their slots and
validations, and the rules and stories grouped by the intent or form they start from.

Read from ``dialogue/domain.yml``, ``data/rules/*.yml``, ``data/stories/*.yml`` and the
``validate_<form>`` actions of ``dialogue/actions/*.py`` (found by reading the source with
``ast``, never importing it), so the Flows page shows what the bot was trained on and nothing
else. A path (rule or story) belongs to the flow of the first form it runs or is conditioned
on, else of its first caller intent after an opening greeting.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ivr.console.action_fills import action_fills

DOMAIN = Path("dialogue") / "domain.yml"
ACTIONS = Path("dialogue") / "actions"
RULES = Path("data") / "rules"
STORIES = Path("data") / "stories"
OPENING_INTENTS = frozenset({"greet"})
"""Intents a whole-call story opens with before the task that decides its flow."""
RESPONSE_PREFIX = "utter_"


@dataclass(frozen=True)
class Step:
    """One step of a rule or story: who acts (``intent``, ``action``, ``form``, ``response``,
    ``form_end``, ``slots``, ``other``) and a short text of what happens."""

    kind: str
    name: str


@dataclass(frozen=True)
class FlowPath:
    """A rule or a story, where it is written and what it needs before its first step."""

    kind: str
    name: str
    source: str
    conditions: tuple[str, ...]
    steps: tuple[Step, ...]
    active_form: str | None
    """The form its condition needs active (a rule that continues or ends a form)."""


@dataclass(frozen=True)
class Validation:
    """A form's ``validate_<form>`` action: where it lives and the slots it checks or extracts."""

    action: str
    source: str
    methods: tuple[str, ...]


@dataclass(frozen=True)
class Form:
    name: str
    required_slots: tuple[str, ...]
    validation: Validation | None


@dataclass(frozen=True)
class Flow:
    """The paths that start from one intent or form, and the forms they run."""

    key: str
    paths: tuple[FlowPath, ...]
    forms: tuple[Form, ...]

    def responses(self) -> list[str]:
        """The responses its steps say, in first-use order."""
        said = (step.name for path in self.paths for step in path.steps if step.kind == "response")
        return list(dict.fromkeys(said))


@dataclass(frozen=True)
class FlowModel:
    """Every flow of the project, with its domain's forms and responses."""

    flows: tuple[Flow, ...]
    forms: Mapping[str, Form]
    domain: Mapping[str, Any]
    fills: Mapping[str, frozenset[str]]
    """Per response, the placeholders the custom actions fill (``action_fills``)."""

    def flow(self, key: str) -> Flow | None:
        return next((flow for flow in self.flows if flow.key == key), None)


def project_files(root: Path, code: Path | None = None) -> list[Path]:
    """The files the flows are read from: a change to any of them changes the diagrams.
    ``code``: where the custom actions are (default ``root``; a draft or version folder holds
    the design files only, the actions stay with the project)."""
    yml = sorted((root / RULES).glob("*.yml")) + sorted((root / STORIES).glob("*.yml"))
    return [root / DOMAIN, *yml, *_action_files(code or root)]


def read_flows(root: Path, code: Path | None = None) -> FlowModel:
    """The flows of the project at ``root``, its actions under ``code`` (default ``root``)
    (blocking: reads and parses its files)."""
    domain = _read_yaml(root / DOMAIN)
    actions = _action_files(code or root)
    validations = _validations(actions)
    forms = {
        name: Form(
            name,
            tuple(str(slot) for slot in (spec or {}).get("required_slots", [])),
            validations.get(f"validate_{name}"),
        )
        for name, spec in (domain.get("forms") or {}).items()
    }
    paths = [
        *_paths(root, RULES, "rules", "rule", forms),
        *_paths(root, STORIES, "stories", "story", forms),
    ]
    grouped: dict[str, list[FlowPath]] = {}
    for path in paths:
        grouped.setdefault(_flow_key(path), []).append(path)
    flows = tuple(
        Flow(key, tuple(members), _forms_run(members, forms)) for key, members in grouped.items()
    )
    return FlowModel(flows, forms, domain, action_fills(actions))


def _action_files(code: Path) -> list[Path]:
    return sorted((code / ACTIONS).glob("*.py"))


def _read_yaml(path: Path) -> dict[str, Any]:
    """A project file with libyaml's safe loader (the pure-Python one took 150 ms of a page
    for the domain)."""
    data = yaml.load(path.read_text("utf-8"), Loader=yaml.CSafeLoader)
    return data if isinstance(data, dict) else {}


def _paths(
    root: Path, folder: Path, section: str, kind: str, forms: Mapping[str, Form]
) -> Iterable[FlowPath]:
    for file in sorted((root / folder).glob("*.yml")):
        source = str(folder / file.name)
        for entry in _read_yaml(file).get(section) or []:
            yield FlowPath(
                kind,
                str(entry.get(kind, "")),
                source,
                tuple(_condition_texts(entry.get("condition") or [])),
                tuple(step for raw in entry.get("steps") or [] for step in _steps(raw, forms)),
                _active_form(entry.get("condition") or []),
            )


def _active_form(conditions: list[Any]) -> str | None:
    return next((str(c["active_loop"]) for c in conditions if c.get("active_loop")), None)


def _condition_texts(conditions: list[Any]) -> Iterable[str]:
    for condition in conditions:
        if "active_loop" in condition:
            form = condition["active_loop"]
            yield "no form is active" if form is None else f"form {form} is active"
        for slot in condition.get("slot_was_set") or []:
            yield _slot_text(slot)


def _slot_text(slot: Any) -> str:
    if isinstance(slot, dict):
        return ", ".join(f"{name} = {value}" for name, value in slot.items())
    return f"{slot} is set"


def _steps(raw: Mapping[str, Any], forms: Mapping[str, Form]) -> Iterable[Step]:
    if "intent" in raw:
        yield Step("intent", str(raw["intent"]))
    elif "or" in raw:
        yield Step("intent", " or ".join(str(option.get("intent", "")) for option in raw["or"]))
    elif "action" in raw:
        yield Step(_action_kind(str(raw["action"]), forms), str(raw["action"]))
    elif "active_loop" in raw:
        if raw["active_loop"] is None:
            yield Step("form_end", "form done")
    elif "slot_was_set" in raw:
        yield Step("slots", "; ".join(_slot_text(slot) for slot in raw["slot_was_set"]))
    else:
        yield Step("other", ", ".join(f"{key}: {value}" for key, value in raw.items()))


def _action_kind(action: str, forms: Mapping[str, Form]) -> str:
    if action in forms:
        return "form"
    return "response" if action.startswith(RESPONSE_PREFIX) else "action"


def _flow_key(path: FlowPath) -> str:
    if path.active_form is not None:
        return path.active_form
    intents = [step.name for step in path.steps if step.kind == "intent"]
    for step in path.steps:
        if step.kind == "form":
            return step.name
        if step.kind == "intent" and (step.name not in OPENING_INTENTS or len(intents) == 1):
            return step.name
    return intents[0] if intents else path.name


def _forms_run(paths: list[FlowPath], forms: Mapping[str, Form]) -> tuple[Form, ...]:
    run = (step.name for path in paths for step in path.steps if step.kind == "form")
    return tuple(forms[name] for name in dict.fromkeys(run))


def _validations(files: list[Path]) -> dict[str, Validation]:
    found: dict[str, Validation] = {}
    for file in files:
        tree = ast.parse(file.read_text("utf-8"), filename=str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                validation = _validation_of(node, str(ACTIONS / file.name))
                if validation is not None:
                    found[validation.action] = validation
    return found


def _validation_of(node: ast.ClassDef, source: str) -> Validation | None:
    methods = [
        item for item in node.body if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    name = next((_returned_text(m) for m in methods if m.name == "name"), None)
    if name is None or not name.startswith("validate_"):
        return None
    checks = tuple(m.name for m in methods if m.name.startswith(("validate_", "extract_")))
    return Validation(name, source, checks)


def _returned_text(method: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    for node in ast.walk(method):
        value = node.value if isinstance(node, ast.Return) else None
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return None
