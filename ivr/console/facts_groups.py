"""The fact groups of the FAQ facts page: their fields, how a form shows them, how it is checked.

One group per knowledge file (``dialogue/knowledge.py`` reads them). A group has facts at the
top of its file (``single``: the hours, the fees' summary) and/or rows (cities, rates, fees,
complaint categories, frustration phrases), each row named by its key (a city's name, a fee's
topic, ...). The form's inputs are text; ``parse_*`` turns them into the values written to the
file, collecting one sentence per input that is wrong (:class:`Errors`), so the page shows each
next to its field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ivr.console import facts_speech as speech
from ivr.console.facts_speech import FactValueError
from ivr.console.facts_yaml import (
    ListRows,
    MappingRows,
    Rows,
    Shape,
    Single,
    Value,
    Values,
    WordRows,
)

KNOWLEDGE = "data/knowledge"
SENTENCE = 200
"""The longest sentence the bot reads from a fact (a fee, a rate, a branch)."""
MAX_PERIODS = 7
T = TypeVar("T")


class Errors(dict[str, str]):
    """Input name → what is wrong with it."""

    def check(self, name: str, parse: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``parse(*args)``, or None with its complaint noted against ``name``."""
        try:
            return parse(*args, **kwargs)
        except FactValueError as exc:
            self[name] = str(exc)
            return None


@dataclass(frozen=True)
class Input:
    """One input of a form: its name, label, widget and bound."""

    name: str
    label: str
    widget: str = "text"
    """text, textarea, time, percent or day."""
    max_length: int = SENTENCE
    hint: str = ""


Inputs = Mapping[str, str]


@dataclass(frozen=True)
class FactGroup:
    """One knowledge file's facts on the page."""

    key: str
    title: str
    file_name: str
    purpose: str
    single: Single | None = None
    single_inputs: tuple[Input, ...] = ()
    rows: Rows | None = None
    row_inputs: tuple[Input, ...] = ()
    row_noun: str = "row"
    max_rows: int = 0
    fixed_rows: bool = False
    """Rows can be neither added, removed nor renamed (their keys are what the model knows)."""
    kept_rows: frozenset[str] = frozenset()
    """Rows that can be edited but not removed or renamed (the loader needs them)."""
    note: str = ""

    @property
    def rows_noun(self) -> str:
        """The row noun in the plural ("cities")."""
        noun = self.row_noun
        return noun[:-1] + "ies" if noun.endswith("y") else noun + "s"

    @property
    def file(self) -> str:
        return f"{KNOWLEDGE}/{self.file_name}"

    # -- stored values ↔ form inputs, per group -------------------------------------------

    def extra_single_names(self) -> list[str]:
        """Top-level inputs beyond ``single_inputs`` (the hours' periods)."""
        return []

    def single_form(self, values: Values) -> dict[str, str]:
        return {i.name: text_of(values[i.name]) for i in self.single_inputs}

    def parse_single(self, form: Inputs, errors: Errors) -> Values:
        return {
            i.name: errors.check(i.name, speech.spoken_text, form.get(i.name, ""), i.max_length)
            or ""
            for i in self.single_inputs
        }

    def row_form(self, values: Values) -> dict[str, str]:
        return {name: text_of(value) for name, value in values.items()}

    def parse_row(self, form: Inputs, prefix: str, errors: Errors) -> Values:
        raise NotImplementedError

    def check_rows(self, rows: Sequence[tuple[str, Values]], errors: Errors) -> None:
        """Checks across rows: the count and keys given once."""
        if self.rows is None:
            return
        if len(rows) > self.max_rows:
            errors["rows"] = f"At most {self.max_rows} {self.rows_noun} (this has {len(rows)})."
        seen: dict[str, str] = {}
        for prefix, values in rows:
            name = str(values.get(self.rows.key_field, ""))
            folded = " ".join(name.lower().split())
            if folded and folded in seen:
                errors[f"{prefix}{self.rows.key_field}"] = f"{name!r} is given twice."
            seen[folded] = prefix


def _words(
    form: Inputs, prefix: str, name: str, errors: Errors, *, at_most: int, required: bool
) -> tuple[str, ...]:
    """A comma-separated list input of a row (aliases, keywords), checked."""
    words = errors.check(
        prefix + name, speech.phrase_list, form.get(name, ""), at_most=at_most, required=required
    )
    return tuple(words or ())


def text_of(value: Value) -> str:
    """A value as one input (or the page) shows it: a list comma-separated."""
    return value if isinstance(value, str) else ", ".join(value)


# -- the groups -------------------------------------------------------------------------------


class HoursGroup(FactGroup):
    """Branch opening hours as periods of days with times; closed days and phone banking as
    the sentences the bot says."""

    def extra_single_names(self) -> list[str]:
        return [f"p{i}.{part}" for i in range(MAX_PERIODS) for part in PERIOD_PARTS]

    def single_form(self, values: Values) -> dict[str, str]:
        form = {**super().single_form(values), SAID: str(values["branches"])}
        periods = speech.parse_hours(str(values["branches"])) or []
        for index, period in enumerate(periods[:MAX_PERIODS]):
            form[f"p{index}.first"] = speech.DAYS[period.first]
            form[f"p{index}.last"] = speech.DAYS[period.last]
            form[f"p{index}.opens"] = speech.input_time(period.opens)
            form[f"p{index}.closes"] = speech.input_time(period.closes)
        return form

    def parse_single(self, form: Inputs, errors: Errors) -> Values:
        values = super().parse_single(form, errors)
        periods = []
        for index in range(MAX_PERIODS):
            given = {part: form.get(f"p{index}.{part}", "").strip() for part in PERIOD_PARTS}
            if not any(given.values()):
                continue
            first = errors.check(f"p{index}.first", speech.day_index, given["first"])
            last = errors.check(f"p{index}.last", speech.day_index, given["last"] or given["first"])
            opens = errors.check(f"p{index}.opens", speech.time_of_day, given["opens"])
            closes = errors.check(f"p{index}.closes", speech.time_of_day, given["closes"])
            if first is not None and last is not None and opens is not None and closes is not None:
                periods.append(speech.Period(first, last, opens, closes))
        if not periods and not any(key.startswith("p") for key in errors):
            errors["periods"] = "Give the branches' opening hours: at least one period."
        elif periods:
            errors.check("periods", speech.check_periods, periods)
        open_days = {day for p in periods for day in range(p.first, p.last + 1)}
        both = sorted(open_days & speech.days_named(str(values["closed"])))
        if both:
            errors["closed"] = f"{speech.DAYS[both[0]]} is in the opening hours above."
        values["branches"] = speech.spoken_hours(periods) if periods else ""
        return values


PERIOD_PARTS = ("first", "last", "opens", "closes")
SAID = "said"
"""Not an input: the hours sentence as the file holds it, shown above the periods."""


class CityGroup(FactGroup):
    """Cities with their aliases and branches."""

    def row_form(self, values: Values) -> dict[str, str]:
        return {**super().row_form(values), "branches": "\n".join(values["branches"])}

    def parse_row(self, form: Inputs, prefix: str, errors: Errors) -> Values:
        name = errors.check(f"{prefix}name", speech.name, form.get("name", ""))
        aliases = _words(form, prefix, "aliases", errors, at_most=10, required=False)
        branches = errors.check(
            f"{prefix}branches",
            speech.sentence_lines,
            form.get("branches", ""),
            at_most=30,
            max_length=SENTENCE,
        )
        return {
            "name": name or "",
            "aliases": aliases,
            "branches": tuple(branches or ()),
        }

    def check_rows(self, rows: Sequence[tuple[str, Values]], errors: Errors) -> None:
        super().check_rows(rows, errors)
        owner = {str(values["name"]).lower(): prefix for prefix, values in rows}
        for prefix, values in rows:
            for alias in values["aliases"]:
                if owner.setdefault(alias, prefix) != prefix:
                    errors.setdefault(f"{prefix}aliases", f"{alias!r} already names another city.")


class RateGroup(FactGroup):
    """One rate per product: the percentage, and the sentence it is said in."""

    def row_form(self, values: Values) -> dict[str, str]:
        rate, sentence = speech.rate_sentence(str(values["say"]))
        return {"product": str(values["product"]), "rate": rate, "sentence": sentence}

    def parse_row(self, form: Inputs, prefix: str, errors: Errors) -> Values:
        rate = errors.check(f"{prefix}rate", speech.percentage, form.get("rate", ""))
        sentence = form.get("sentence", "")
        say = errors.check(f"{prefix}sentence", speech.rate_say, rate or "0", sentence, SENTENCE)
        return {"say": say or ""}


class FeeGroup(FactGroup):
    """The summary said when no fee matches, and each fee: topic, keywords, sentence."""

    def parse_row(self, form: Inputs, prefix: str, errors: Errors) -> Values:
        topic = errors.check(f"{prefix}topic", speech.name, form.get("topic", ""))
        keywords = _words(form, prefix, "keywords", errors, at_most=20, required=True)
        say = errors.check(f"{prefix}say", speech.spoken_text, form.get("say", ""), SENTENCE)
        if say and not speech.has_price(say):
            errors[f"{prefix}say"] = "Say what it costs (an amount such as $25) or that it is free."
        return {"topic": topic or "", "keywords": keywords, "say": say or ""}


class ComplaintGroup(FactGroup):
    """Complaint categories: key, how the bot names it, the caller's words that pick it."""

    def parse_row(self, form: Inputs, prefix: str, errors: Errors) -> Values:
        key = errors.check(f"{prefix}key", speech.key, form.get("key", ""))
        say = errors.check(f"{prefix}say", speech.spoken_text, form.get("say", ""), 80)
        keywords = _words(form, prefix, "keywords", errors, at_most=40, required=True)
        return {"key": key or "", "say": say or "", "keywords": keywords}


class PhraseGroup(FactGroup):
    """Frustration phrases, one per row."""

    def parse_row(self, form: Inputs, prefix: str, errors: Errors) -> Values:
        return {
            "phrase": errors.check(f"{prefix}phrase", speech.phrase, form.get("phrase", "")) or ""
        }


GROUPS: dict[str, FactGroup] = {
    group.key: group
    for group in (
        HoursGroup(
            "hours",
            "Opening hours",
            "hours.yml",
            'answered when a caller asks "when are you open?"',
            single=Single(
                {
                    "branches": Shape("branches"),
                    "closed": Shape("closed"),
                    "phone_banking": Shape("phone_banking"),
                }
            ),
            single_inputs=(
                Input(
                    "closed", "Closed on", max_length=120, hint="e.g. Sundays and public holidays"
                ),
                Input(
                    "phone_banking",
                    "Phone banking",
                    max_length=120,
                    hint="e.g. 24 hours a day, 7 days a week",
                ),
            ),
        ),
        CityGroup(
            "branches",
            "Branches by city",
            "branches.yml",
            'answered for "is there a branch in Chicago?"',
            rows=MappingRows(
                "cities",
                "name",
                {"aliases": Shape("aliases", "words"), "branches": Shape("branches", "says")},
            ),
            row_inputs=(
                Input("name", "City", max_length=60),
                Input(
                    "aliases",
                    "Other names callers use",
                    max_length=600,
                    hint="comma-separated, e.g. nyc, new york city",
                ),
                Input(
                    "branches",
                    "Branches, one per line as the bot reads it",
                    "textarea",
                    max_length=30 * (SENTENCE + 2),
                ),
            ),
            row_noun="city",
            max_rows=200,
            note="A new city is recognised by name only once it is also in"
            " data/nlu/lookup_city.yml and the model is trained again; until then the bot"
            " finds it when the caller says its name as written here.",
        ),
        RateGroup(
            "rates",
            "Interest rates",
            "rates.yml",
            'answered for "what\'s your savings rate?"',
            rows=MappingRows("products", "product", {"say": Shape("say")}),
            row_inputs=(
                Input("rate", "Rate, percent a year", "percent", max_length=12),
                Input(
                    "sentence", "Sentence ({rate} is where the rate is said)", max_length=SENTENCE
                ),
            ),
            row_noun="product",
            max_rows=20,
            fixed_rows=True,
            note="The products are the account types the model knows callers name.",
        ),
        FeeGroup(
            "fees",
            "Fees",
            "fees.yml",
            'answered for "how much is the overdraft fee?"',
            single=Single({"summary": Shape("summary")}),
            single_inputs=(
                Input(
                    "summary", "Said when the caller names no fee below", "textarea", max_length=300
                ),
            ),
            rows=ListRows(
                "fees",
                "topic",
                {
                    "topic": Shape("topic", "name"),
                    "keywords": Shape("keywords", "words"),
                    "say": Shape("say"),
                },
            ),
            row_inputs=(
                Input("topic", "Topic", max_length=60),
                Input(
                    "keywords", "Caller's words", max_length=600, hint="comma-separated, lowercase"
                ),
                Input(
                    "say",
                    "What the bot says",
                    "textarea",
                    max_length=SENTENCE + 100,
                    hint="amounts as $25 or $2.50 are read as 25 dollars, 2 dollars and 50 cents",
                ),
            ),
            row_noun="fee",
            max_rows=50,
        ),
        ComplaintGroup(
            "complaints",
            "Complaint categories",
            "complaints.yml",
            "what a complaint is about, matched on the caller's words",
            rows=MappingRows(
                "categories", "key", {"say": Shape("say"), "keywords": Shape("keywords", "words")}
            ),
            row_inputs=(
                Input("key", "Key", max_length=40),
                Input("say", "Read back as", max_length=80),
                Input(
                    "keywords",
                    "Caller's words",
                    max_length=800,
                    hint="comma-separated, lowercase; the first category that matches wins",
                ),
            ),
            row_noun="category",
            max_rows=30,
            kept_rows=frozenset({"other"}),
            note="The category other is used when no keyword matches: it stays.",
        ),
        PhraseGroup(
            "handoff",
            "Frustration phrases",
            "handoff.yml",
            "a caller who says one is handed to an agent with priority",
            rows=WordRows("frustration_phrases", "phrase"),
            row_inputs=(Input("phrase", "Phrase", max_length=60),),
            row_noun="phrase",
            max_rows=200,
        ),
    )
}
"""Every group, by the name its page has (``/console/facts/{key}``)."""
