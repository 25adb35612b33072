"""The values of the FAQ facts as a designer types them and as the voice reads them.

Every fact ends up in a sentence the bot speaks, so each checker returns the text the way the
speech synthesiser reads it well ("9 AM", "2 dollars and 50 cents", "3.1 percent"; amounts as
the bot says them everywhere, :func:`dialogue.spoken.say_money`) or raises
:class:`FactValueError` with a sentence for the form, next to the field. Designers may type the
written forms ("17:30", "$2.50", "3.1%"); they are turned into the spoken ones here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from dialogue.spoken import say_money

DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MAX_MONEY = Decimal(1_000_000)
UNSPEAKABLE = re.compile(r"[{}<>\[\]\\|#*_~^`@]")
"""Characters the voice cannot read, or that would mean markup or a template to the bot."""
NAME = re.compile(r"[A-Za-z][A-Za-z .'-]*")
PHRASE = re.compile(r"[a-z0-9][a-z0-9 '-]*")
KEY = re.compile(r"[a-z][a-z0-9_]*")
RATE_SLOT = "{rate}"


class FactValueError(ValueError):
    """A value the bot could not say or the loader would refuse; the message is for the form."""


def spoken_text(value: str, max_length: int) -> str:
    """A sentence or phrase the bot reads: trimmed, bounded, written amounts made spoken."""
    text = " ".join(value.split())
    if not text:
        raise FactValueError("Write what the bot should say here.")
    bad = UNSPEAKABLE.search(text)
    if bad:
        raise FactValueError(f"The voice cannot read {bad.group()!r}: leave it out.")
    text = spoken_percentages(spoken_money(text))
    if len(text) > max_length:
        raise FactValueError(f"At most {max_length} characters (this has {len(text)}).")
    return text


def name(value: str, max_length: int = 60) -> str:
    """A place or topic name: letters, spaces, apostrophes, dots and hyphens."""
    text = " ".join(value.split())
    if not text:
        raise FactValueError("A name is needed.")
    if len(text) > max_length:
        raise FactValueError(f"At most {max_length} characters.")
    if not NAME.fullmatch(text):
        raise FactValueError("Letters, spaces, apostrophes, dots and hyphens only.")
    return text


def phrase(value: str, max_length: int = 60) -> str:
    """What a caller may say (a keyword, an alias): lowercase words, digits and apostrophes."""
    text = " ".join(value.lower().split())
    if not text:
        raise FactValueError("A word or phrase is needed.")
    if len(text) > max_length:
        raise FactValueError(f"At most {max_length} characters.")
    if not PHRASE.fullmatch(text):
        raise FactValueError(f"{text!r}: letters, digits, spaces, apostrophes and hyphens only.")
    return text


def key(value: str, max_length: int = 40) -> str:
    """An identifier the actions use (a complaint category): lowercase, digits, underscores."""
    text = value.strip()
    if not text:
        raise FactValueError("A key is needed.")
    if len(text) > max_length or not KEY.fullmatch(text):
        raise FactValueError(
            f"Lowercase letters, digits and underscores, starting with a letter, at most"
            f" {max_length}."
        )
    return text


def phrase_list(value: str, *, at_most: int, required: bool) -> list[str]:
    """Comma-separated words or phrases, each checked, no repeats."""
    parts = [part for part in value.split(",") if part.strip()]
    if not parts and required:
        raise FactValueError("At least one is needed.")
    if len(parts) > at_most:
        raise FactValueError(f"At most {at_most} (this has {len(parts)}).")
    words = [phrase(part) for part in parts]
    repeated = sorted({word for word in words if words.count(word) > 1})
    if repeated:
        raise FactValueError(f"Given twice: {', '.join(repeated)}.")
    return words


def sentence_lines(value: str, *, at_most: int, max_length: int) -> list[str]:
    """One spoken sentence per line (a city's branches), at least one."""
    lines = [line for line in value.splitlines() if line.strip()]
    if not lines:
        raise FactValueError("At least one line is needed.")
    if len(lines) > at_most:
        raise FactValueError(f"At most {at_most} lines (this has {len(lines)}).")
    spoken = []
    for number, line in enumerate(lines, 1):
        try:
            spoken.append(spoken_text(line, max_length))
        except FactValueError as exc:
            raise FactValueError(f"Line {number}: {exc}") from None
    return spoken


# -- money ------------------------------------------------------------------------------------

WRITTEN_MONEY = re.compile(r"(-)?\$\s*(-)?(\d{1,3}(?:,\d{3})+|\d+)?(?:\.(\d+))?")
SPOKEN_MONEY = re.compile(
    r"(-)?\b(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s+(dollars?|cents?)\b", re.IGNORECASE
)
PRICE = re.compile(r"\b(\d+ dollars?|\d+ cents?|free)\b", re.IGNORECASE)


def money_amount(whole: str, fraction: str | None, negative: bool) -> int:
    """A written amount in cents, checked: not negative, whole cents, at most a million."""
    if negative:
        raise FactValueError("An amount cannot be negative.")
    if fraction is not None and len(fraction) != 2:
        raise FactValueError("Write cents with two digits, as in $2.50.")
    amount = Decimal(whole.replace(",", "") + "." + (fraction or "0"))
    if amount > MAX_MONEY:
        raise FactValueError("An amount above a million dollars is surely a typo.")
    return int(amount * 100)


def spoken_money(text: str) -> str:
    """``text`` with written amounts ("$2.50", "2.50 dollars") spoken; bad amounts refused."""

    def written(match: re.Match[str]) -> str:
        minus, minus_after, whole, fraction = match.groups()
        if whole is None:
            raise FactValueError("A $ sign needs an amount after it, as in $25.")
        return say_money(money_amount(whole, fraction, bool(minus or minus_after)))

    def spoken(match: re.Match[str]) -> str:
        minus, whole, fraction, unit = match.groups()
        if unit.lower().startswith("cent"):
            if fraction is not None or minus or int(whole.replace(",", "")) > 99:
                raise FactValueError(
                    f"{match.group().strip()!r}: cents are 0 to 99; say dollars and cents."
                )
            return match.group()
        if fraction is None and not minus:
            return match.group()
        return say_money(money_amount(whole, fraction, bool(minus)))

    return SPOKEN_MONEY.sub(spoken, WRITTEN_MONEY.sub(written, text))


def has_price(text: str) -> bool:
    """Whether a fee's sentence names an amount or says the thing is free."""
    return bool(PRICE.search(text))


# -- percentages ------------------------------------------------------------------------------

PERCENT = re.compile(r"(-)?\b(\d+(?:\.\d+)?)\s*(?:%|percent\b)", re.IGNORECASE)


def percentage(value: str) -> str:
    """A rate in percent, 0 to 100 with at most 3 decimals, written as the voice reads it."""
    text = value.strip().removesuffix("%").strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise FactValueError("A percentage such as 3.1 is needed.") from None
    if not number.is_finite() or number < 0 or number > 100:
        raise FactValueError("A percentage is between 0 and 100.")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -3:
        raise FactValueError("At most 3 decimals, as in 4.125.")
    plain = format(number, "f")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


def spoken_percentages(text: str) -> str:
    """``text`` with "3.1%" as "3.1 percent"; a percentage out of range refused."""

    def spoken(match: re.Match[str]) -> str:
        if match.group(1):
            raise FactValueError("A percentage cannot be negative.")
        return f"{percentage(match.group(2))} percent"

    return PERCENT.sub(spoken, text)


def rate_sentence(say: str) -> tuple[str, str]:
    """A stored rate sentence split into its rate and the sentence with ``{rate}`` in its place
    (no rate and the sentence as it is, when it names no single percentage)."""
    found = list(PERCENT.finditer(say))
    if len(found) != 1:
        return "", say
    match = found[0]
    return match.group(2), say[: match.start()] + RATE_SLOT + say[match.end() :]


def rate_say(rate: str, sentence: str, max_length: int) -> str:
    """The spoken rate sentence from the form's rate and sentence."""
    if sentence.count(RATE_SLOT) != 1:
        raise FactValueError(f"Put {RATE_SLOT} once where the bot says the rate.")
    text = spoken_text(sentence.replace(RATE_SLOT, "RATE"), max_length - 8)
    return text.replace("RATE", f"{percentage(rate)} percent")


# -- opening hours ----------------------------------------------------------------------------

TIME_24 = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
TIME_12 = re.compile(r"(1[0-2]|0?[1-9])(?::([0-5]\d))?\s*([ap])\.?\s*m\.?", re.IGNORECASE)
TIME_WORDS = {"noon": 12 * 60, "12 noon": 12 * 60, "midnight": 0}
TIME_HELP = "a time such as 9 AM, 5:30 PM or 17:30"


def time_of_day(value: str) -> int:
    """Minutes after midnight of "9 AM", "5:30 pm", "17:30" or "noon"."""
    text = " ".join(value.lower().split())
    if text in TIME_WORDS:
        return TIME_WORDS[text]
    if match := TIME_24.fullmatch(text):
        return int(match.group(1)) * 60 + int(match.group(2))
    if match := TIME_12.fullmatch(text):
        hour = int(match.group(1)) % 12 + (12 if match.group(3) == "p" else 0)
        return hour * 60 + int(match.group(2) or 0)
    raise FactValueError(f"Write {TIME_HELP}.")


def spoken_time(minutes: int) -> str:
    """How the voice says a time: "9 AM", "5:30 PM", "noon"."""
    if minutes == 12 * 60:
        return "noon"
    if minutes == 0:
        return "midnight"
    hour, minute = divmod(minutes, 60)
    clock = hour % 12 or 12
    return f"{clock}{f':{minute:02d}' if minute else ''} {'AM' if hour < 12 else 'PM'}"


def input_time(minutes: int) -> str:
    """A time as an ``<input type="time">`` holds it."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class Period:
    """Days (a range, Monday first) with the same opening hours."""

    first: int
    last: int
    opens: int
    closes: int

    def spoken(self) -> str:
        days = (
            f"on {DAYS[self.first]}"
            if self.first == self.last
            else f"{DAYS[self.first]} to {DAYS[self.last]}"
        )
        return f"{days} from {spoken_time(self.opens)} to {spoken_time(self.closes)}"


def spoken_hours(periods: Sequence[Period]) -> str:
    """Opening hours as one sentence: "Monday to Friday from 9 AM to 5 PM, and on Saturday ..."."""
    said = [period.spoken() for period in periods]
    text = said[0] if len(said) == 1 else ", ".join(said[:-1]) + ", and " + said[-1]
    return text[0].upper() + text[1:]


PERIOD = re.compile(
    r"(?:on\s+)?(?P<first>\w+?)s?(?:\s+to\s+(?P<last>\w+?)s?)?\s+from\s+(?P<opens>.+?)"
    r"\s+(?:to|until)\s+(?P<closes>.+)",
    re.IGNORECASE,
)


def parse_hours(text: str) -> list[Period] | None:
    """The periods of an hours sentence :func:`spoken_hours` could have made; None otherwise."""
    periods = []
    for part in re.split(r",\s*(?:and\s+)?|\s+and\s+(?=on\s)", text.strip()):
        match = PERIOD.fullmatch(part.strip())
        if match is None:
            return None
        try:
            first = _day(match.group("first"))
            last = _day(match.group("last") or match.group("first"))
            opens, closes = time_of_day(match.group("opens")), time_of_day(match.group("closes"))
        except FactValueError:
            return None
        periods.append(Period(first, last, opens, closes))
    return periods


def _day(word: str) -> int:
    for index, day in enumerate(DAYS):
        if word.lower() == day.lower():
            return index
    raise FactValueError(f"{word!r} is not a day of the week")


def day_index(value: str) -> int:
    """A day the form names (one of :data:`DAYS`)."""
    return _day(value.strip())


def check_periods(periods: Sequence[Period]) -> None:
    """Opening periods in week order, each opening before it closes, no day twice."""
    seen: set[int] = set()
    for period in periods:
        if period.last < period.first:
            raise FactValueError(f"{DAYS[period.first]} comes after {DAYS[period.last]}.")
        if period.closes <= period.opens:
            raise FactValueError(
                f"{DAYS[period.first]} closes at {spoken_time(period.closes)}, not after it"
                f" opens at {spoken_time(period.opens)}."
            )
        days = set(range(period.first, period.last + 1))
        twice = sorted(days & seen)
        if twice:
            raise FactValueError(f"{DAYS[twice[0]]} is in two periods.")
        seen |= days


def days_named(text: str) -> set[int]:
    """The days a sentence names ("Sundays and public holidays" names Sunday)."""
    return {i for i, day in enumerate(DAYS) if re.search(rf"\b{day}s?\b", text, re.IGNORECASE)}
