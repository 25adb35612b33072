"""FAQ knowledge the assistant reads aloud: hours, branches, rates, fees, complaint categories.

The facts live in ``data/knowledge/*.yml``, which IVR designers edit; the sentence frames
around them are responses in ``dialogue/domain.yml``. Files are re-read when they change,
so an edit takes effect on the next question without a retrain or restart.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

FILES = ("hours.yml", "branches.yml", "rates.yml", "fees.yml", "complaints.yml", "handoff.yml")


class KnowledgeError(ValueError):
    """A knowledge file is missing a key or has the wrong shape; the message names both."""


@dataclass(frozen=True)
class City:
    name: str
    aliases: tuple[str, ...]
    branches: tuple[str, ...]


@dataclass(frozen=True)
class Fee:
    topic: str
    keywords: tuple[str, ...]
    say: str


@dataclass(frozen=True)
class ComplaintCategory:
    key: str
    say: str
    keywords: tuple[str, ...]


@dataclass(frozen=True)
class Knowledge:
    branch_hours: str
    closed: str
    phone_banking: str
    cities: tuple[City, ...]
    rates: dict[str, str]
    fees_summary: str
    fees: tuple[Fee, ...]
    complaint_categories: tuple[ComplaintCategory, ...]
    frustration_phrases: tuple[str, ...]

    def city(self, spoken: str) -> City | None:
        """The city a caller named (by name or alias, any case); ``None`` if we have none there."""
        wanted = _norm(spoken)
        for city in self.cities:
            if wanted == _norm(city.name) or wanted in {_norm(a) for a in city.aliases}:
                return city
        return None

    def fees_for(self, text: str) -> list[Fee]:
        """Fees whose keywords occur in what the caller said."""
        lowered = f" {_norm(text)} "
        return [f for f in self.fees if any(f" {_norm(k)} " in lowered for k in f.keywords)]

    def complaint_category(self, text: str) -> ComplaintCategory:
        """The first category with a keyword in ``text``; the ``other`` category otherwise."""
        lowered = f" {_norm(text)} "
        for category in self.complaint_categories:
            if any(f" {_norm(k)} " in lowered for k in category.keywords):
                return category
        return next(c for c in self.complaint_categories if c.key == "other")

    def category(self, key: str) -> ComplaintCategory | None:
        return next((c for c in self.complaint_categories if c.key == key), None)

    def is_frustrated(self, text: str) -> bool:
        lowered = f" {_norm(text)} "
        return any(f" {_norm(p)} " in lowered for p in self.frustration_phrases)


def _norm(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _get(data: dict[str, Any], key: str, where: str, kind: type = str) -> Any:
    if key not in data:
        raise KnowledgeError(f"{where}: missing key {key!r}")
    value = data[key]
    if not isinstance(value, kind):
        raise KnowledgeError(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def load_knowledge(directory: str | Path, replaced: Mapping[str, str] | None = None) -> Knowledge:
    """Read and check every knowledge file in ``directory``; a file named in ``replaced`` is
    checked with the text given there instead (an edit about to be written)."""
    root = Path(directory)
    raw: dict[str, dict[str, Any]] = {}
    for name in FILES:
        path = root / name
        text = (replaced or {}).get(name)
        if text is None:
            if not path.is_file():
                raise KnowledgeError(f"{path}: knowledge file is missing")
            text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise KnowledgeError(f"{path}: the top level must be a mapping")
        raw[name] = data

    hours = raw["hours.yml"]
    cities = []
    for name, entry in _get(raw["branches.yml"], "cities", "branches.yml", dict).items():
        where = f"branches.yml: cities.{name}"
        branches = _get(entry, "branches", where, list)
        cities.append(
            City(
                name=str(name),
                aliases=tuple(str(a) for a in entry.get("aliases") or []),
                branches=tuple(str(_get(b, "say", f"{where}.branches")) for b in branches),
            )
        )
    rates = {
        str(key): str(_get(entry, "say", f"rates.yml: products.{key}"))
        for key, entry in _get(raw["rates.yml"], "products", "rates.yml", dict).items()
    }
    fees_data = raw["fees.yml"]
    fees = tuple(
        Fee(
            topic=str(_get(entry, "topic", f"fees.yml: fees[{i}]")),
            keywords=tuple(str(k) for k in _get(entry, "keywords", f"fees.yml: fees[{i}]", list)),
            say=str(_get(entry, "say", f"fees.yml: fees[{i}]")),
        )
        for i, entry in enumerate(_get(fees_data, "fees", "fees.yml", list))
    )
    categories = tuple(
        ComplaintCategory(
            key=str(key),
            say=str(_get(entry, "say", f"complaints.yml: categories.{key}")),
            keywords=tuple(
                str(k) for k in _get(entry, "keywords", f"complaints.yml: categories.{key}", list)
            ),
        )
        for key, entry in _get(raw["complaints.yml"], "categories", "complaints.yml", dict).items()
    )
    if not any(c.key == "other" for c in categories):
        raise KnowledgeError("complaints.yml: categories must include 'other'")
    return Knowledge(
        branch_hours=str(_get(hours, "branches", "hours.yml")),
        closed=str(_get(hours, "closed", "hours.yml")),
        phone_banking=str(_get(hours, "phone_banking", "hours.yml")),
        cities=tuple(cities),
        rates=rates,
        fees_summary=str(_get(fees_data, "summary", "fees.yml")),
        fees=fees,
        complaint_categories=categories,
        frustration_phrases=tuple(
            str(p) for p in _get(raw["handoff.yml"], "frustration_phrases", "handoff.yml", list)
        ),
    )


class KnowledgeBase:
    """Knowledge from a directory, re-read whenever one of its files changes."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._stamp: tuple[float, ...] = ()
        self._knowledge: Knowledge | None = None

    def get(self) -> Knowledge:
        stamp = tuple(
            (self.directory / n).stat().st_mtime if (self.directory / n).exists() else 0.0
            for n in FILES
        )
        with self._lock:
            if self._knowledge is None or stamp != self._stamp:
                self._knowledge = load_knowledge(self.directory)
                self._stamp = stamp
            return self._knowledge
