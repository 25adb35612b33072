"""Saving a fact group into the draft: only what the designer changed, and only if nobody
changed the same values since the page was shown.

The form carries a digest of every value it showed. An :class:`Edit` is what differs between
those and what was posted: changed fields, rows added and removed. :func:`save` applies it with
``Draft.edit``: under the draft's lock it compares each changed value's digest with the file as
it is now (someone else's value → :class:`FactConflict`, both values for the page), writes the
changes in place (``facts_yaml``) and checks the knowledge still loads as the bot loads it
(``dialogue.knowledge.load_knowledge``), else :class:`~ivr.versions.draft.DraftError` with the
loader's message. Two designers editing different facts of one file both succeed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from dialogue.knowledge import KnowledgeError, load_knowledge
from ivr.console.facts_groups import KNOWLEDGE, FactGroup, text_of
from ivr.console.facts_yaml import RoundTrip, Value, Values
from ivr.versions.draft import Draft, DraftConflict, DraftError

GONE = "(removed)"
ABSENT = "(not there)"


def digest(value: Value | None) -> str:
    """What the form carries for a value it shows: 12 hex digits of its SHA-256."""
    return hashlib.sha256(json.dumps(value).encode()).hexdigest()[:12]


def said(value: Value | None) -> str:
    """A value as the page shows it in a conflict."""
    return ABSENT if value is None else text_of(value)


@dataclass(frozen=True)
class RowEdit:
    """One row of the form: as shown (key and digests; no key for a new row) and as posted
    (None: the designer removed it)."""

    key: str | None
    shown: dict[str, str]
    values: Values | None

    def changed(self) -> list[str]:
        """The fields whose posted value differs from the one shown."""
        if self.values is None or self.key is None:
            return []
        return [f for f, value in self.values.items() if digest(value) != self.shown.get(f)]


@dataclass(frozen=True)
class Edit:
    """What one post of a group's form changes."""

    group: FactGroup
    single_shown: dict[str, str]
    single: Values
    rows: tuple[RowEdit, ...]

    def single_changed(self) -> list[str]:
        return [f for f, v in self.single.items() if digest(v) != self.single_shown.get(f)]

    def summary(self) -> list[str]:
        """What changed, by field and row name (no values): the audit row's detail."""
        parts = list(self.single_changed())
        for row in self.rows:
            if row.key is None and row.values is not None:
                parts.append(f"added {self._name(row.values)}")
            elif row.key is not None and row.values is None:
                parts.append(f"removed {row.key}")
            else:
                parts += [f"{row.key}.{field}" for field in row.changed()]
        return parts

    def _name(self, values: Values) -> str:
        assert self.group.rows is not None
        return str(values[self.group.rows.key_field])


@dataclass(frozen=True)
class Clash:
    """One value someone else changed since the page was shown."""

    where: str
    theirs: str
    yours: str


class FactConflict(DraftConflict):
    """Values changed by someone else since the form was shown; nothing was saved."""

    def __init__(self, path: str, clashes: list[Clash]) -> None:
        super().__init__(path, "; ".join(clash.where for clash in clashes))
        self.clashes = clashes


def save(draft: Draft, edit: Edit, *, author: str) -> str:
    """Write ``edit`` into the draft (blocking); the file's new revision."""
    group = edit.group
    knowledge = draft.root / KNOWLEDGE

    def change(current: str) -> str:
        text = apply(edit, current)
        check_loads(knowledge, group.file_name, text)
        return text

    return draft.edit(group.file, change, author=author)


def apply(edit: Edit, current: str) -> str:
    """``current`` with ``edit`` applied, or :class:`FactConflict`."""
    group = edit.group
    try:
        data = yaml.safe_load(current) or {}
        now_single = group.single.read(data) if group.single else {}
        now_rows = group.rows.read(data) if group.rows else {}
    except (yaml.YAMLError, AttributeError, TypeError) as exc:
        raise DraftError(f"{group.file} is not as the page expects: {exc}") from exc
    clashes = _clashes(edit, now_single, now_rows)
    if clashes:
        raise FactConflict(group.file, clashes)
    added = sum(1 for row in edit.rows if row.key is None and row.values is not None)
    removed = sum(1 for row in edit.rows if row.key in now_rows and row.values is None)
    if group.rows is not None and len(now_rows) + added - removed > group.max_rows:
        raise DraftError(f"{group.file} would hold more than {group.max_rows} {group.rows_noun}")
    document = RoundTrip(current)
    for field in edit.single_changed():
        assert group.single is not None
        group.single.set(document.doc, field, edit.single[field])
    for row in edit.rows:
        if row.key is None or row.key in now_rows:  # a row removed twice is simply gone
            _apply_row(edit, row, document)
    return document.text()


def _apply_row(edit: Edit, row: RowEdit, document: RoundTrip) -> None:
    rows = edit.group.rows
    assert rows is not None
    if row.key is None:
        if row.values is not None:
            rows.add(document.doc, row.values)
        return
    if row.values is None:
        rows.remove(document.doc, row.key)
        return
    changed = row.changed()
    for field in sorted(changed, key=lambda f: f == rows.key_field):
        rows.set(document.doc, row.key, field, row.values[field])


def _clashes(edit: Edit, now_single: Values, now_rows: dict[str, Values]) -> list[Clash]:
    clashes = [
        Clash(field, said(now_single.get(field)), said(edit.single[field]))
        for field in edit.single_changed()
        if digest(now_single.get(field)) != edit.single_shown.get(field)
    ]
    key_field = edit.group.rows.key_field if edit.group.rows else ""
    for row in edit.rows:
        if row.key is None:
            if row.values is not None and str(row.values[key_field]) in now_rows:
                name = str(row.values[key_field])
                clashes.append(Clash(name, "added it already", "adding it"))
            continue
        now = now_rows.get(row.key)
        if row.values is None:
            if now is not None and any(digest(v) != row.shown.get(f) for f, v in now.items()):
                clashes.append(Clash(row.key, "changed it", GONE))
            continue
        for field in row.changed():
            if now is None:
                clashes.append(Clash(f"{row.key}.{field}", GONE, said(row.values[field])))
            elif digest(now.get(field)) != row.shown.get(field):
                clashes.append(
                    Clash(f"{row.key}.{field}", said(now.get(field)), said(row.values[field]))
                )
            elif field == key_field and str(row.values[field]) in now_rows:
                clashes.append(Clash(str(row.values[field]), "added it already", "renaming"))
    return clashes


def check_loads(knowledge: Path, name: str, text: str) -> None:
    """Whether the knowledge with ``name`` replaced by ``text`` loads as the bot loads it."""
    try:
        load_knowledge(knowledge, {name: text})
    except (KnowledgeError, yaml.YAMLError) as exc:
        message = str(exc).replace(f"{knowledge}/", f"{KNOWLEDGE}/")
        raise DraftError(f"the bot could not read the facts: {message}") from exc
