"""Where each fact lives in its knowledge file, read plainly and written back in place.

The knowledge files carry comments for designers and an order they chose; an edit from the
FAQ facts page must change only the values edited. Writing goes through ruamel.yaml's
round-trip mode (comments, order, quoting and flow lists kept), with the indentation that
reproduces the file as it is; a new value keeps the quoting of the one it replaces.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

Value = str | tuple[str, ...]
"""A fact's value: a text, or a list of texts (aliases, keywords, a city's branches)."""
INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4))
"""(mapping, sequence, dash offset) layouts tried until one reproduces the file unchanged."""


@dataclass(frozen=True)
class Shape:
    """How one field is written: ``text`` (a quoted scalar when new), ``name`` (a plain
    scalar), ``words`` (a flow list ``[a, b]``) or ``says`` (a block list of ``- say: "..."``
    mappings, a city's branches)."""

    yaml_key: str
    kind: str = "text"


class RoundTrip:
    """One file loaded for editing (parsed once); :meth:`text` writes it back."""

    def __init__(self, text: str) -> None:
        yamls = [_yaml(*layout) for layout in INDENTS]
        self.doc: Any = yamls[0].load(text) or CommentedMap()
        # The layout only changes how the file is written: the first that writes the file
        # back unchanged, else the first.
        self._yaml = next((yaml for yaml in yamls if _dump(yaml, self.doc) == text), yamls[0])

    def text(self) -> str:
        return _dump(self._yaml, self.doc)


def _yaml(mapping: int, sequence: int, offset: int) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True  # type: ignore[assignment]
    yaml.width = 4096  # type: ignore[assignment]
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


def _dump(yaml: YAML, doc: Any) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def plain(value: Any, shape: Shape) -> Value:
    """A field's value as the page compares it (from a plain ``yaml.safe_load``)."""
    if shape.kind == "words":
        return tuple(str(item) for item in value or [])
    if shape.kind == "says":
        return tuple(str(item.get("say", "")) for item in value or [] if isinstance(item, dict))
    return "" if value is None else str(value)


def node(old: Any, value: Value, shape: Shape) -> Any:
    """The YAML node for ``value``, styled like ``old`` (the node it replaces, if any)."""
    if shape.kind == "words":
        seq = CommentedSeq(list(value))
        seq.fa.set_flow_style()
        return seq
    if shape.kind == "says":
        return CommentedSeq(CommentedMap(say=DoubleQuotedScalarString(say)) for say in value)
    text = str(value)
    if isinstance(old, SingleQuotedScalarString):
        return SingleQuotedScalarString(text)
    if isinstance(old, DoubleQuotedScalarString) or (old is None and shape.kind == "text"):
        return DoubleQuotedScalarString(text)
    return text


def set_field(mapping: Any, shape: Shape, value: Value) -> None:
    """Replace one field of a YAML mapping in place (its position and comments kept)."""
    old = mapping.get(shape.yaml_key)
    if shape.kind == "words" and isinstance(old, CommentedSeq):
        old[:] = list(value)
        return
    mapping[shape.yaml_key] = node(old, value, shape)


def rename_key(mapping: CommentedMap, old: str, new: str) -> None:
    """Give an entry of a YAML mapping a new key where it stands."""
    position = list(mapping).index(old)
    value = mapping.pop(old)
    mapping.insert(position, new, value)


Values = dict[str, Value]


@dataclass(frozen=True)
class Single:
    """Facts at the top level of a file (the hours; the fees' summary)."""

    shapes: dict[str, Shape]

    def read(self, data: Any) -> Values:
        return {
            field: plain(data.get(shape.yaml_key), shape) for field, shape in self.shapes.items()
        }

    def set(self, doc: Any, field: str, value: Value) -> None:
        set_field(doc, self.shapes[field], value)


@dataclass(frozen=True)
class _FieldRows:
    """Rows of mappings under ``path``, each field written as its shape says."""

    path: str
    key_field: str
    shapes: dict[str, Shape]

    def _entry(self, values: Values) -> CommentedMap:
        entry = CommentedMap()
        for field, shape in self.shapes.items():
            entry[shape.yaml_key] = node(None, values[field], shape)
        return entry


@dataclass(frozen=True)
class MappingRows(_FieldRows):
    """Rows that are the entries of a mapping, named by their key (cities, rates, categories)."""

    def read(self, data: Any) -> dict[str, Values]:
        entries = data.get(self.path) or {}
        return {
            str(key): {
                self.key_field: str(key),
                **{f: plain((entry or {}).get(s.yaml_key), s) for f, s in self.shapes.items()},
            }
            for key, entry in entries.items()
        }

    def set(self, doc: Any, key: str, field: str, value: Value) -> None:
        if field == self.key_field:
            rename_key(doc[self.path], key, str(value))
        else:
            set_field(doc[self.path][key], self.shapes[field], value)

    def remove(self, doc: Any, key: str) -> None:
        del doc[self.path][key]

    def add(self, doc: Any, values: Values) -> None:
        doc[self.path][str(values[self.key_field])] = self._entry(values)


@dataclass(frozen=True)
class ListRows(_FieldRows):
    """Rows that are the mappings of a list, named by one of their fields (fees by topic)."""

    def read(self, data: Any) -> dict[str, Values]:
        rows = [
            {f: plain(entry.get(s.yaml_key), s) for f, s in self.shapes.items()}
            for entry in data.get(self.path) or []
            if isinstance(entry, dict)
        ]
        return {str(row[self.key_field]): row for row in rows}

    def set(self, doc: Any, key: str, field: str, value: Value) -> None:
        set_field(doc[self.path][self._index(doc, key)], self.shapes[field], value)

    def remove(self, doc: Any, key: str) -> None:
        del doc[self.path][self._index(doc, key)]

    def add(self, doc: Any, values: Values) -> None:
        doc[self.path].append(self._entry(values))

    def _index(self, doc: Any, key: str) -> int:
        name = self.shapes[self.key_field].yaml_key
        return next(i for i, entry in enumerate(doc[self.path]) if str(entry.get(name)) == key)


@dataclass(frozen=True)
class WordRows:
    """Rows that are the texts of a plain list, each its own key (frustration phrases)."""

    path: str
    key_field: str

    def read(self, data: Any) -> dict[str, Values]:
        return {str(item): {self.key_field: str(item)} for item in data.get(self.path) or []}

    def set(self, doc: Any, key: str, field: str, value: Value) -> None:
        doc[self.path][self._index(doc, key)] = str(value)

    def remove(self, doc: Any, key: str) -> None:
        del doc[self.path][self._index(doc, key)]

    def add(self, doc: Any, values: Values) -> None:
        doc[self.path].append(str(values[self.key_field]))

    def _index(self, doc: Any, key: str) -> int:
        return next(i for i, item in enumerate(doc[self.path]) if str(item) == key)


Rows = MappingRows | ListRows | WordRows
