"""Every value a console request brings is checked here: one of each, bounded, of a known shape.

Query parameters and form fields arrive as text of any length; what is not what the page
expects is refused with :class:`BadRequest` (400, with a sentence saying which value) before
any database work. Parameters a page does not read are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from urllib.parse import urlsplit

from multidict import MultiMapping

from ivr.console.analytics import MAX_PERIOD_DAYS, Period
from ivr.console.paging import KEY, Cursor
from ivr.console.queries import OUTCOMES, CallFilter

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
TOKEN = re.compile(r"[A-Za-z0-9_.:-]{1,100}")
"""Intents and transports: names the bot and Rasa give, never free text."""
MAX_TEXT = 200
"""Search words and caller ids, at most this many characters."""
MAX_NEXT = 512
KEY_ENTRY = re.compile(r"[0-9*#]{1,32}")
MAX_KEY_ENTRIES = 10
SCRIPT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
"""A QA script's file name without ``.yml``: no path separator, no dot, no hidden file."""
CALL_FILTER_FIELDS = ("from", "to", "outcome", "transport", "intent", "handed_off", "caller", "q")
DEFAULT_PERIOD_DAYS = 7


class BadRequest(ValueError):
    """A request value is not acceptable; the message names it, for the page."""


def one(values: MultiMapping[object], name: str, max_length: int) -> str | None:
    """The single text value of ``name`` (None when absent or empty), at most ``max_length``
    characters and without control characters."""
    items = values.getall(name, [])
    if len(items) > 1:
        raise BadRequest(f"{name} is given more than once")
    if not items or items[0] == "":
        return None
    value = items[0]
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be text")
    if len(value) > max_length:
        raise BadRequest(f"{name} is longer than {max_length} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise BadRequest(f"{name} holds control characters")
    return value


@dataclass(frozen=True)
class CallListRequest:
    """What the calls list was asked for: the filter, its fields as given, and the page."""

    wanted: CallFilter
    given: dict[str, str]
    """The filter fields as typed (to fill the form again and carry to the next page)."""
    before: Cursor | None
    limit: int


def call_list(query: MultiMapping[str]) -> CallListRequest:
    given = {name: value for name in CALL_FILTER_FIELDS if (value := one(query, name, MAX_TEXT))}
    first, last = _date(given, "from"), _date(given, "to")
    if first is not None and last is not None and first > last:
        raise BadRequest("from must not be after to")
    for name, example in (("transport", "sip"), ("intent", "lost_card")):
        if name in given and not TOKEN.fullmatch(given[name]):
            raise BadRequest(f"{name} is a name such as {example}")
    outcome = given.get("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        raise BadRequest(f"outcome is one of {', '.join(OUTCOMES)}")
    handed_off = given.get("handed_off")
    if handed_off not in (None, "yes", "no"):
        raise BadRequest("handed_off is yes or no")
    words = given.get("q", "").strip()
    wanted = CallFilter(
        started_from=_midnight(first),
        started_before=_midnight(last + timedelta(days=1)) if last is not None else None,
        outcome=outcome,
        transport=given.get("transport"),
        intent=given.get("intent"),
        handed_off=None if handed_off is None else handed_off == "yes",
        caller=given.get("caller"),
        text=words or None,
    )
    return CallListRequest(wanted, given, cursor(query), limit(query))


def period(query: MultiMapping[str], today: date) -> Period:
    """The dashboard's days: ``from`` and ``to`` (UTC, inclusive); by default the
    ``DEFAULT_PERIOD_DAYS`` days ending ``today``, or that many from ``from``."""
    given = {name: value for name in ("from", "to") if (value := one(query, name, MAX_TEXT))}
    first, last = _date(given, "from"), _date(given, "to")
    if last is None:
        last = today if first is None else first + timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first is None:
        first = last - timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if first > last:
        raise BadRequest("from must not be after to")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise BadRequest(f"the period is at most {MAX_PERIOD_DAYS} days")
    return Period(first, last)


def choice(query: MultiMapping[str], name: str, choices: tuple[str, ...]) -> str:
    """The value of ``name``, which must be one of ``choices``."""
    value = one(query, name, MAX_TEXT)
    if value not in choices:
        raise BadRequest(f"{name} is one of {', '.join(choices)}")
    return value


def cursor(query: MultiMapping[str]) -> Cursor | None:
    """The ``before`` page cursor, if any."""
    value = one(query, "before", 120)
    if value is None:
        return None
    try:
        return Cursor.parse(value)
    except ValueError:
        raise BadRequest("before is not a page cursor from this console") from None


def limit(query: MultiMapping[str]) -> int:
    """Rows per page: ``limit``, 1 to ``MAX_LIMIT``."""
    value = one(query, "limit", 3)
    if value is None:
        return DEFAULT_LIMIT
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise BadRequest(f"limit is a whole number from 1 to {MAX_LIMIT}")
    return int(value)


def call_id(value: str) -> str:
    """A call id as the bot makes them (the route's pattern checks the characters)."""
    if not KEY.fullmatch(value):
        raise BadRequest("not a call id")
    return value


def next_path(value: str | None) -> str:
    """Where to go after log-in: a console path on this server, else the home page."""
    home = "/console/"
    if value is None or len(value) > MAX_NEXT or not value.startswith(home) or "\\" in value:
        return home
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ch.isspace() for ch in value):
        return home
    return value


def _date(given: dict[str, str], name: str) -> date | None:
    value = given.get(name)
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(f"{name} is a date, YYYY-MM-DD") from None


def _midnight(day: date | None) -> float | None:
    """The start of ``day`` in UTC, as epoch seconds."""
    if day is None:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()


def key_entries(form: MultiMapping[object]) -> tuple[str, ...]:
    """The ``keys`` field of the replay form: keyed entries in order, apart by spaces or commas
    (their digits are never put in a message)."""
    value = one(form, "keys", MAX_TEXT)
    entries = tuple((value or "").replace(",", " ").split())
    if len(entries) > MAX_KEY_ENTRIES or not all(KEY_ENTRY.fullmatch(e) for e in entries):
        raise BadRequest(
            f"keys are up to {MAX_KEY_ENTRIES} entries of keypad keys (0-9, * and #), apart by"
            " spaces"
        )
    return entries


def test_pin(form: MultiMapping[object]) -> str | None:
    """The replay form's ``pin``: a test PIN of 4 to 12 digits, or None."""
    value = one(form, "pin", 12)
    if value is not None and not (value.isascii() and value.isdigit() and len(value) >= 4):
        raise BadRequest("the test PIN is 4 to 12 digits")
    return value


def script_name(form: MultiMapping[object]) -> str:
    """The ``name`` of a script to save: lower-case letters, digits, ``_`` and ``-``."""
    value = one(form, "name", 64)
    if value is None or not SCRIPT_NAME.fullmatch(value):
        raise BadRequest(
            "a script name is 1-64 lower-case letters, digits, _ and -, starting with a letter"
            " or digit"
        )
    return value
