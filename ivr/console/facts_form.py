"""A fact group's form as the page shows it and as a browser posts it.

Input names: a top-level fact by its own name (``closed``, ``p0.opens``), row ``i``'s inputs as
``r{i}.{input}``, with ``r{i}.was`` (the row's name as shown, empty for a new row),
``r{i}.shown`` (the digests of the values shown, JSON) and ``r{i}.remove``; ``shown`` holds the
top-level digests and ``rows`` the number of rows. Every posted value is bounded and checked
before use; a malformed hidden field is a :class:`~ivr.console.params.BadRequest`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import yaml
from multidict import MultiMapping

from ivr.console.facts_edit import Edit, RowEdit, digest
from ivr.console.facts_groups import Errors, FactGroup, Input
from ivr.console.facts_yaml import Values
from ivr.console.params import BadRequest

MAX_FIELD = 10_000
"""No input of any group is longer; longer is a forged post."""
DIGEST = re.compile(r"[0-9a-f]{12}")


@dataclass
class RowState:
    """One row of the form: what it was when shown and what it holds now."""

    key: str
    """The row's name as shown ("" for a new row)."""
    shown: dict[str, str]
    inputs: dict[str, str]
    remove: bool = False


@dataclass
class FormState:
    """Everything a group's form shows: inputs, the digests it carries, errors."""

    group: FactGroup
    single: dict[str, str]
    single_shown: dict[str, str]
    rows: list[RowState]
    errors: Errors = field(default_factory=Errors)

    def add_row(self) -> None:
        """One more empty row, while the group has room."""
        group = self.group
        if group.rows is not None and not group.fixed_rows and len(self.rows) < group.max_rows:
            self.rows.append(RowState("", {}, {}))


def from_file(group: FactGroup, text: str) -> FormState:
    """The form for the group's file as it is."""
    data = yaml.safe_load(text) or {}
    single = group.single.read(data) if group.single else {}
    rows = group.rows.read(data) if group.rows else {}
    state = FormState(
        group,
        group.single_form(single) if group.single else {},
        _digests(single),
        [RowState(key, _digests(values), group.row_form(values)) for key, values in rows.items()],
    )
    if group.rows is not None and not group.fixed_rows:
        state.add_row()
    return state


def _digests(values: Values) -> dict[str, str]:
    return {name: digest(value) for name, value in values.items()}


def posted(group: FactGroup, form: MultiMapping[object]) -> FormState:
    """The form as posted (checked for shape, not yet for meaning)."""
    single_names = [i.name for i in group.single_inputs] + group.extra_single_names()
    single = {name: _value(form, name) for name in single_names}
    count = _value(form, "rows")
    if group.rows is None:
        rows = []
    elif not count.isdigit() or int(count) > group.max_rows + 1:
        raise BadRequest(f"rows is a number up to {group.max_rows + 1}")
    else:
        rows = [_row(group, form, index) for index in range(int(count))]
    return FormState(group, single, _shown(_value(form, "shown")), rows)


def _row(group: FactGroup, form: MultiMapping[object], index: int) -> RowState:
    prefix = f"r{index}."
    return RowState(
        key=_value(form, f"{prefix}was"),
        shown=_shown(_value(form, f"{prefix}shown")),
        inputs={i.name: _value(form, prefix + i.name) for i in group.row_inputs},
        remove=_value(form, f"{prefix}remove") == "yes",
    )


def _value(form: MultiMapping[object], name: str) -> str:
    values = form.getall(name, [])
    if len(values) > 1:
        raise BadRequest(f"{name} is given more than once")
    value = values[0] if values else ""
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be text")
    if len(value) > MAX_FIELD:
        raise BadRequest(f"{name} is longer than {MAX_FIELD} characters")
    if any((ord(ch) < 32 and ch not in "\r\n\t") or ord(ch) == 127 for ch in value):
        raise BadRequest(f"{name} holds control characters")
    return value


def _shown(text: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        shown = json.loads(text)
    except ValueError:
        raise BadRequest("the form's shown values are not from this page") from None
    if not isinstance(shown, dict) or len(shown) > 10:
        raise BadRequest("the form's shown values are not from this page")
    if not all(
        isinstance(k, str) and isinstance(v, str) and DIGEST.fullmatch(v) for k, v in shown.items()
    ):
        raise BadRequest("the form's shown values are not from this page")
    return shown


def edit_of(state: FormState) -> Edit | None:
    """The edit the posted form asks for; None with ``state.errors`` filled when a value is
    wrong (nothing is saved then)."""
    group, errors = state.group, state.errors
    for name, text in state.single.items():
        _bound(errors, name, text, _input(group.single_inputs, name))
    single = group.parse_single(state.single, errors) if group.single else {}
    rows: list[RowEdit] = []
    kept: list[tuple[str, Values]] = []
    for index, row in enumerate(state.rows):
        prefix = f"r{index}."
        if not row.key and not any(value.strip() for value in row.inputs.values()):
            continue
        if row.remove:
            if not row.key:
                continue
            if group.fixed_rows or row.key in group.kept_rows:
                errors[f"{prefix}remove"] = f"{row.key} cannot be removed."
            rows.append(RowEdit(row.key, row.shown, None))
            continue
        if row.key and not row.shown:
            raise BadRequest(f"{prefix}shown is missing")
        for name, text in row.inputs.items():
            _bound(errors, prefix + name, text, _input(group.row_inputs, name))
        values = group.parse_row(row.inputs, prefix, errors)
        assert group.rows is not None
        key_field = group.rows.key_field
        if group.fixed_rows:
            if not row.key:
                raise BadRequest(f"{group.title}: rows cannot be added")
            values[key_field] = row.key
        elif row.key in group.kept_rows and values[key_field] != row.key:
            errors[f"{prefix}{key_field}"] = f"{row.key} keeps its name."
        rows.append(RowEdit(row.key or None, row.shown, values))
        kept.append((prefix, values))
    group.check_rows(kept, errors)
    if errors:
        return None
    return Edit(group, state.single_shown, single, tuple(rows))


def _input(inputs: tuple[Input, ...], name: str) -> Input | None:
    return next((i for i in inputs if i.name == name), None)


def _bound(errors: Errors, name: str, text: str, spec: Input | None) -> None:
    if spec is not None and len(text) > spec.max_length:
        errors[name] = f"At most {spec.max_length} characters (this has {len(text)})."
