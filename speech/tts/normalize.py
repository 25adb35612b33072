"""Rewrite written text into the words a bank's agent would say: money, digits, dates, times.

Pure functions, no I/O. The rules, in the order they apply:

- Masked numbers (``****4321``, ``XXXX-4321``) become "ending in four three two one".
- Identifiers are read digit by digit: digits after "ending in", "last four digits", and after
  identifier words (account, card, reference, confirmation, PIN, code, extension, ID, ``#``,
  "No."), phone numbers, hyphen-joined digit groups, card-style groups of four, any run of 5+
  digits written without thousands separators, and any number with a leading zero. Runs of 8+
  digits are read in groups of four (three for 9 or 15 digits) with a short pause between.
- Money: ``$1,200.50`` -> "one thousand two hundred dollars and fifty cents", ``$0.99`` ->
  "ninety nine cents", ``$1.2 million`` -> "one point two million dollars" (also € and £).
- Dates: ``2026-12-05``, ``12/05/2026``, ``December 5, 2026`` and ``Dec 5th`` -> "December fifth"
  (with ", twenty twenty six" when a year is given); ``5 December`` -> "the fifth of December".
  Numeric dates are month/day/year (the US order of the voice); a month/day without a year is
  read as a date only after "on", "by", "due", "since", "until", "between"... ("on 11/22").
- Times: ``9:30 am`` -> "nine thirty AM", ``9:05`` -> "nine oh five", ``14:00`` -> "two PM";
  ranges ``9am-5pm`` -> "nine AM to five PM", ``Mon-Fri`` -> "Monday to Friday".
  AM/PM are written as capitals because espeak-ng (piper's phonemiser too) reads a lone "a" as
  the article "uh"; "AM" is read as the two letters.
- Percentages, ordinals (``3rd`` -> "third"), decimals ("one point five"), ranges ("5-10" ->
  "five to ten"), negatives ("minus"), years after "in/since/by/..." ("twenty twenty six").
- Other numbers up to four digits, and numbers with thousands separators, become cardinal words.
- A few abbreviations (Dr., Mr., e.g., etc.), fractions (1/2), symbols (&, @) and units
  ("$10/month" -> "ten dollars per month") are spelled out.

Text without any of these passes through unchanged apart from whitespace.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_WORDS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
MAX_CARDINAL = 10**15 - 1
"""Largest number spelled as words; bigger ones are read digit by digit."""

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_INDEX = {name.lower(): i + 1 for i, name in enumerate(MONTHS)}
_MONTH_INDEX.update({name.lower()[:3]: i + 1 for i, name in enumerate(MONTHS)})
_MONTH_INDEX["sept"] = 9


def cardinal(n: int) -> str:
    """Spell a whole number in US English words: 1200 -> "one thousand two hundred"."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n > MAX_CARDINAL:
        return spell_digits(str(n))
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + (" " + _ONES[ones] if ones else "")
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + (" " + cardinal(rest) if rest else "")
    for scale, word in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return cardinal(high) + " " + word + (" " + cardinal(rest) if rest else "")
    raise AssertionError("unreachable")  # pragma: no cover


def ordinal(n: int) -> str:
    """Spell an ordinal: 1 -> "first", 21 -> "twenty first", 100 -> "one hundredth"."""
    words = cardinal(n).split(" ")
    last = words[-1]
    if last in _ORDINAL_WORDS:
        words[-1] = _ORDINAL_WORDS[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def spell_digits(digits: str, group: int = 0) -> str:
    """Read digits one by one ("4321" -> "four three two one"); non-digits are ignored.

    ``group`` > 0 inserts a comma (a short pause) after every ``group`` digits.
    """
    only = [d for d in digits if d.isdigit()]
    words = [_ONES[int(d)] for d in only]
    if group <= 0 or len(words) <= group:
        return " ".join(words)
    chunks = [" ".join(words[i : i + group]) for i in range(0, len(words), group)]
    return ", ".join(chunks)


def spell_digit_groups(groups: list[str]) -> str:
    """Read each group digit by digit with a pause between groups (phone and card numbers)."""
    return ", ".join(spell_digits(g) for g in groups if g)


def spell_identifier(digits: str) -> str:
    """Digit-by-digit reading of an identifier; 8+ digits are read in groups with short pauses.

    Groups are of four digits, or of three when the length divides by three but not by four
    (a nine-digit routing number is read 3-3-3).
    """
    only = re.sub(r"\D", "", digits)
    if len(only) < 8:
        return spell_digits(only)
    return spell_digits(only, group=3 if len(only) % 3 == 0 and len(only) % 4 else 4)


def year(n: int) -> str:
    """Read a year: 2026 -> "twenty twenty six", 2005 -> "two thousand five"."""
    if not 1000 <= n <= 2999 or 2000 <= n <= 2009:
        return cardinal(n)
    high, low = divmod(n, 100)
    if low == 0:
        return cardinal(high) + " hundred"
    if low < 10:
        return cardinal(high) + " oh " + cardinal(low)
    return cardinal(high) + " " + cardinal(low)


def decimal(text: str) -> str:
    """Read a number with optional thousands separators and decimals: "2.5" -> "two point five"."""
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    words = cardinal(int(whole.replace(",", "") or "0"))
    if fraction:
        words += " point " + spell_digits(fraction)
    return ("minus " + words) if negative else words


# --- the rewriting pipeline -----------------------------------------------------------------

_Rule = tuple["re.Pattern[str]", Callable[["re.Match[str]"], str]]

_AMOUNT = r"\d{1,3}(?:,\d{3})+|\d+"
TIME_ZONES = (
    "ET",
    "EST",
    "EDT",
    "CT",
    "CST",
    "CDT",
    "MT",
    "MST",
    "MDT",
    "PT",
    "PST",
    "PDT",
    "UTC",
    "GMT",
)
"""Capitalised words that follow "p.m." without starting a new sentence."""
_SENTENCE_END = re.compile(r"\s*$|\s+(?!(?:" + "|".join(TIME_ZONES) + r")\b)[\"'(]?[A-Z]")


def _ends_sentence(match: re.Match[str]) -> bool:
    """True when a matched token ending in "." also ends its sentence (next word capitalised)."""
    return match.group(0).endswith(".") and bool(_SENTENCE_END.match(match.string, match.end()))


def _period(match: re.Match[str]) -> str:
    return "." if _ends_sentence(match) else ""


# Unicode look-alikes that would otherwise defeat the rules below.
_TRANSLATE = str.maketrans(
    {
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2012": "-",
        "\u2212": "-",
        "\u2014": ", ",
        "\u2026": "...",
    }
)


def _masked(m: re.Match[str]) -> str:
    before = m.string[: m.start()].lower().rstrip()
    digits = spell_digits(m.group("last"))
    if before.endswith(("ending in", "ending with")):
        return digits
    return "ending in " + digits


def _identifier(m: re.Match[str]) -> str:
    lead = re.sub(r"\s*(?:#|\bno\.|\bnum)$", " number", m.group("lead"), flags=re.IGNORECASE)
    return f"{lead} {spell_identifier(m.group('num'))}"


def _hash_number(m: re.Match[str]) -> str:
    return "number " + spell_identifier(m.group("num"))


_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "usd": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "eur": ("euro", "euros", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "gbp": ("pound", "pounds", "penny", "pence"),
}
_SCALE_SUFFIX = {"k": "thousand", "m": "million", "mn": "million", "b": "billion", "bn": "billion"}


def money(amount: str, currency: str = "$", scale: str | None = None) -> str:
    """Speak an amount: money("1,200.50") -> "one thousand two hundred dollars and fifty cents"."""
    unit, units, sub, subs = _CURRENCIES[currency.lower()]
    negative = amount.startswith("-")
    amount = amount.lstrip("-")
    sign = "minus " if negative else ""
    if scale:
        word = _SCALE_SUFFIX.get(scale.lower(), scale.lower())
        return f"{sign}{decimal(amount)} {word} {units}"
    whole_text, _, fraction = amount.partition(".")
    whole = int(whole_text.replace(",", "") or "0")
    if len(fraction) > 2:
        return f"{sign}{decimal(amount)} {units}"
    cents = int(fraction.ljust(2, "0")) if fraction else 0
    main = f"{cardinal(whole)} {unit if whole == 1 else units}"
    change = f"{cardinal(cents)} {sub if cents == 1 else subs}"
    if cents and whole:
        return f"{sign}{main} and {change}"
    if cents:
        return sign + change
    return sign + main


def _money_prefix(m: re.Match[str]) -> str:
    amount = (m.group("neg") or "") + m.group("num") + (m.group("frac") or "")
    scale = m.group("scale_word") or m.group("scale_letter")
    return money(amount, m.group("cur").strip(), scale)


def _money_suffix(m: re.Match[str]) -> str:
    amount = (m.group("neg") or "") + m.group("num") + (m.group("frac") or "")
    return money(amount, m.group("cur"))


def _cents_sign(m: re.Match[str]) -> str:
    n = int(m.group("num"))
    return f"{cardinal(n)} {'cent' if n == 1 else 'cents'}"


def _valid_date(y: int, mo: int, d: int) -> bool:
    try:
        datetime.date(y, mo, d)
    except ValueError:
        return False
    return True


def _say_date(mo: int, d: int, y: int | None) -> str:
    text = f"{MONTHS[mo - 1]} {ordinal(d)}"
    return f"{text}, {year(y)}" if y is not None else text


def _iso_date(m: re.Match[str]) -> str:
    y, mo, d = int(m.group("y")), int(m.group("m")), int(m.group("d"))
    if not _valid_date(y, mo, d):
        return m.group(0)
    return _say_date(mo, d, y)


def _us_date(m: re.Match[str]) -> str:
    y = int(m.group("y")) if m.group("y") else None
    if y is not None and len(m.group("y")) == 2:
        y += 2000
    mo, d = int(m.group("m")), int(m.group("d"))
    if not _valid_date(y or 2000, mo, d):
        return m.group(0)
    return _say_date(mo, d, y)


_WEEKDAYS = {
    "mon": "Monday",
    "tue": "Tuesday",
    "tues": "Tuesday",
    "wed": "Wednesday",
    "thu": "Thursday",
    "thur": "Thursday",
    "thurs": "Thursday",
    "fri": "Friday",
    "sat": "Saturday",
    "sun": "Sunday",
}
_WEEKDAY_RE = r"(?:Mon|Tues?|Wed|Thu(?:rs?)?|Fri|Sat|Sun)"


def _weekday(m: re.Match[str]) -> str:
    return _WEEKDAYS[m.group(0).rstrip(".").lower()] + _period(m)


def _contextual_date(m: re.Match[str]) -> str:
    spoken = _us_date(m)
    return m.group(0) if spoken == m.group(0) else f"{m.group('ctx')} {spoken}"


_FRACTIONS = {
    "1/2": "one half",
    "1/3": "one third",
    "2/3": "two thirds",
    "1/4": "one quarter",
    "3/4": "three quarters",
}


def _month_day(m: re.Match[str]) -> str:
    mo = _MONTH_INDEX[m.group("month").lower().rstrip(".")]
    d = int(m.group("day"))
    y = int(m.group("year")) if m.group("year") else None
    if not _valid_date(y or 2000, mo, d):
        return m.group(0)
    return _say_date(mo, d, y)


def _day_month(m: re.Match[str]) -> str:
    mo = _MONTH_INDEX[m.group("month").lower().rstrip(".")]
    d = int(m.group("day"))
    y = int(m.group("year")) if m.group("year") else None
    if not _valid_date(y or 2000, mo, d):
        return m.group(0)
    before = m.string[: m.start()].lower().rstrip()
    text = f"{ordinal(d)} of {MONTHS[mo - 1]}"
    if not before.endswith("the"):
        text = "the " + text
    return f"{text}, {year(y)}" if y is not None else text


def _month_year(m: re.Match[str]) -> str:
    mo = _MONTH_INDEX[m.group("month").lower().rstrip(".")]
    return f"{MONTHS[mo - 1]} {year(int(m.group('year')))}"


def _ampm(text: str | None) -> str:
    if not text:
        return ""
    return " AM" if text.lower().startswith("a") else " PM"


def clock(hour: int, minute: int, ampm: str | None = None) -> str:
    """Speak a clock time: (9, 30, "am") -> "nine thirty AM"; (14, 0) -> "two PM"."""
    suffix = _ampm(ampm)
    if not ampm and (hour >= 13 or hour == 0):
        suffix = " PM" if hour >= 12 else " AM"
        hour = hour - 12 if hour > 12 else (12 if hour == 0 else hour)
    if minute == 0:
        return cardinal(hour) + (suffix or " o'clock")
    if minute < 10:
        return f"{cardinal(hour)} oh {cardinal(minute)}{suffix}"
    return f"{cardinal(hour)} {cardinal(minute)}{suffix}"


def _time(m: re.Match[str]) -> str:
    hour, minute = int(m.group("h")), int(m.groupdict().get("min") or 0)
    if hour > 23 or minute > 59 or (m.group("ampm") and not 1 <= hour <= 12):
        return m.group(0)
    return clock(hour, minute, m.group("ampm")) + _period(m)


def _percent(m: re.Match[str]) -> str:
    return decimal(m.group("num").replace(",", "")) + " percent"


def _phone(m: re.Match[str]) -> str:
    groups = [m.group("cc") or "", m.group("a1") or m.group("a2"), m.group("b"), m.group("c")]
    return spell_digit_groups([g.lstrip("+") for g in groups])


def _digit_groups(m: re.Match[str]) -> str:
    return spell_digit_groups(re.split(r"[\s-]+", m.group(0)))


def _range(m: re.Match[str]) -> str:
    return f"{_number(m.group('a'))} to {_number(m.group('b'))}"


def _ordinal(m: re.Match[str]) -> str:
    return ordinal(int(m.group("num").replace(",", "")))


def _decimal(m: re.Match[str]) -> str:
    return decimal(m.group(0))


_YEAR_CONTEXT = re.compile(
    r"\b(?:in|since|year|until|by|from|before|after|through|of)\s*$", re.IGNORECASE
)


def _number(text: str) -> str:
    """A bare number: words for quantities, digit by digit for identifiers."""
    if "," in text:
        return cardinal(int(text.replace(",", "")))
    if len(text) >= 5 or (len(text) >= 2 and text.startswith("0")):
        return spell_identifier(text)
    return cardinal(int(text))


def _bare_number(m: re.Match[str]) -> str:
    num = m.group("num")
    if m.group("neg"):
        return "minus " + _number(num)
    if len(num) == 4 and 1000 <= int(num) <= 2099 and _YEAR_CONTEXT.search(m.string[: m.start()]):
        return year(int(num))
    return _number(num)


def _keep_period(word: str) -> Callable[[re.Match[str]], str]:
    return lambda m: word + _period(m)


_MONTH_RE = (
    r"(?P<month>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\b\.?"
)
_AMPM_RE = r"(?P<ampm>(?i:[ap]\.m\.|[ap]\.?m\b))"
_IDENTIFIER_WORDS = (
    r"account|acct|card|reference|ref|confirmation|routing|member|customer|ticket|transaction"
    r"|pin|code|extension|ext|id"
)
_NUMBER_WORDS = r"number|no\.|num|#"
_NOT_IN_WORD = r"(?<![\w.,])"

_RULES: list[_Rule] = [
    # Masked numbers and explicit "ending in" phrases.
    (
        re.compile(r"(?<![A-Za-z])(?:[*xX•#]{2,}[\s-]?)+(?P<last>\d{2,6})(?!\d)"),
        _masked,
    ),
    (
        re.compile(
            r"\b(?P<lead>(?:ending|ends) (?:in|with)|last (?:two|three|four|2|3|4) digits"
            r"(?: are| of)?)\s+(?P<num>\d(?:[\d -]*\d)?)",
            re.IGNORECASE,
        ),
        _identifier,
    ),
    # Money before anything else reads its digits.
    (
        re.compile(
            r"(?P<neg>-)?(?P<cur>[$€£]|(?:USD|EUR|GBP)\s)\s?(?=\.?\d)(?P<num>(?:"
            + _AMOUNT
            + r")?)(?P<frac>\.\d+)?"
            r"(?:\s?(?P<scale_word>thousand|million|billion|trillion)\b"
            r"|(?P<scale_letter>[kKmMbB]|bn|mn)\b)?"
        ),
        _money_prefix,
    ),
    (
        re.compile(
            r"(?P<neg>-)?(?P<num>" + _AMOUNT + r")(?P<frac>\.\d+)?\s?(?P<cur>USD|EUR|GBP)\b"
        ),
        _money_suffix,
    ),
    (re.compile(r"(?<![\d.])(?P<num>\d{1,2})\s?¢"), _cents_sign),
    # Identifiers read digit by digit.
    (
        re.compile(
            r"\b(?P<lead>(?:" + _IDENTIFIER_WORDS + r")\b\.?(?:\s*(?:" + _NUMBER_WORDS + r"))?"
            r"(?:\s+is)?:?)\s*#?\s*(?P<num>\d(?:[\d -]*\d)?)(?![\d.,]\d)",
            re.IGNORECASE,
        ),
        _identifier,
    ),
    (re.compile(r"(?:#|\bNo\.)\s?(?P<num>\d(?:[\d-]*\d)?)"), _hash_number),
    # Dates.
    (
        re.compile(r"(?<![\d-])(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})(?![\d-])"),
        _iso_date,
    ),
    (
        re.compile(r"(?<![\d/])(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}|\d{2})(?![\d/])"),
        _us_date,
    ),
    (  # month/day without a year only where a date is expected: "on 11/22", "due by 3/1"
        re.compile(
            r"\b(?P<ctx>on|by|since|from|until|till|through|before|after|due|between|and|to)\s"
            r"(?P<m>\d{1,2})/(?P<d>\d{1,2})(?P<y>)(?![\d/])",
            re.IGNORECASE,
        ),
        _contextual_date,
    ),
    (
        re.compile(
            r"\b" + _MONTH_RE + r"\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s+(?P<year>\d{4})\b)?"
        ),
        _month_day,
    ),
    (
        re.compile(
            r"\b(?P<day>\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?"
            + _MONTH_RE
            + r"(?:,?\s+(?P<year>\d{4})\b)?"
        ),
        _day_month,
    ),
    (re.compile(r"\b" + _MONTH_RE + r"\s+(?P<year>\d{4})\b"), _month_year),
    # Times, time ranges and weekday abbreviations before them.
    (
        re.compile(
            r"\b" + _WEEKDAY_RE + r"\b\.?(?=\s?(?:[-–]|to|through)\s?" + _WEEKDAY_RE + r"\b)"
        ),
        _weekday,
    ),
    (
        re.compile(r"(?<=[-–] )" + _WEEKDAY_RE + r"\b\.?|(?<=[-–])" + _WEEKDAY_RE + r"\b\.?"),
        _weekday,
    ),
    (re.compile(r"\b" + _WEEKDAY_RE + r"\b\.?(?=\s\d)"), _weekday),
    (re.compile(r"(?<=[a-z])\s?[-–]\s?(?=[A-Z][a-z]+day\b)"), lambda m: " to "),
    (
        re.compile(
            r"\b(?P<a>\d{1,2}(?::\d{2})?(?:\s?[ap]\.?m\b\.?)?)\s?[-–]\s?"
            r"(?=\d{1,2}:\d{2}|\d{1,2}\s?[ap]\.?m\b)",
            re.IGNORECASE,
        ),
        lambda m: m.group("a") + " to ",
    ),
    (
        re.compile(r"\b(?P<h>\d{1,2}):(?P<min>\d{2})(?::\d{2})?(?:\s?" + _AMPM_RE + r")?"),
        _time,
    ),
    (re.compile(r"\b(?P<h>\d{1,2})\s?" + _AMPM_RE), _time),
    (re.compile(r"\b24/7/365\b"), lambda m: "twenty four seven, three sixty five"),
    (re.compile(r"\b24/7\b"), lambda m: "twenty four seven"),
    (
        re.compile(r"(?<![\d/])[123]/[234](?![\d/])"),
        lambda m: _FRACTIONS.get(m.group(0), m.group(0)),
    ),
    (re.compile(r"\b911\b"), lambda m: "nine one one"),
    # Percentages.
    (re.compile(r"(?P<num>-?(?:" + _AMOUNT + r")(?:\.\d+)?)\s?%"), _percent),
    # Phone numbers and other grouped digit strings.
    (
        re.compile(
            r"(?<![\w.])(?:(?P<cc>\+?1)[\s.-]?)?(?:\((?P<a1>\d{3})\)\s?|(?P<a2>\d{3})[\s.-])"
            r"(?P<b>\d{3})[\s.-](?P<c>\d{4})(?![\w])"
        ),
        _phone,
    ),
    (re.compile(_NOT_IN_WORD + r"\d+(?:-\d+){2,}(?![\w-])"), _digit_groups),
    (re.compile(_NOT_IN_WORD + r"\d{4}(?: \d{4}){2,}(?![\w])"), _digit_groups),
    (
        re.compile(_NOT_IN_WORD + r"(?P<a>\d{1,3})\s?-\s?(?P<b>\d{1,3})(?![\w.-])"),
        _range,
    ),
    (
        re.compile(_NOT_IN_WORD + r"\d+-\d+(?![\w-])"),
        _digit_groups,
    ),
    # Ordinals, decimals and plain numbers.
    (
        re.compile(r"\b(?P<num>" + _AMOUNT + r")(?:st|nd|rd|th)\b", re.IGNORECASE),
        _ordinal,
    ),
    (
        re.compile(r"(?<![\w.])\d+(?:\.\d+){2,}(?![\d.]\d)"),
        lambda m: " point ".join(_number(part) for part in m.group(0).split(".")),
    ),
    (re.compile(r"(?<![\w.])-?(?:" + _AMOUNT + r")\.\d+(?![\d.])"), _decimal),
    (
        re.compile(r"(?:(?<=^)|(?<=[\s(\[\"']))(?P<neg>-)?(?P<num>" + _AMOUNT + r")(?!\d)"),
        _bare_number,
    ),
    (re.compile(r"(?<![\w])(?P<num>" + _AMOUNT + r")(?!\d)"), lambda m: _number(m.group("num"))),
    # Abbreviations and symbols.
    (re.compile(r"\bDr\.(?=\s+[A-Z])"), lambda m: "Doctor"),
    (re.compile(r"\bMrs\.(?=\s+[A-Z])"), lambda m: "Missus"),
    (re.compile(r"\bMr\.(?=\s+[A-Z])"), lambda m: "Mister"),
    (re.compile(r"\bMs\.(?=\s+[A-Z])"), lambda m: "Miz"),
    (re.compile(r"\be\.g\.", re.IGNORECASE), lambda m: "for example"),
    (re.compile(r"\bi\.e\.", re.IGNORECASE), lambda m: "that is"),
    (re.compile(r"\betc\.", re.IGNORECASE), _keep_period("et cetera")),
    (re.compile(r"\bvs\.", re.IGNORECASE), lambda m: "versus"),
    (re.compile(r"\bapprox\.", re.IGNORECASE), lambda m: "approximately"),
    (re.compile(r"\s*&\s*"), lambda m: " and "),
    (
        re.compile(r"\b(dollars?|cents?|euros?|pounds?|pence|percent)/(?=[a-z])"),
        lambda m: m.group(1) + " per ",
    ),
    (re.compile(r"(?<=\s)@(?=\s)"), lambda m: "at"),
    (re.compile(r"\s?%"), lambda m: " percent"),
]


SAID_AS_WORDS = {"PIN": "pin", "PINs": "pins", "NATO": "nato", "FICO": "fico"}
"""Capitalised acronyms people say as words; voices would otherwise spell them letter by letter."""
_SAID_AS_WORDS = re.compile(r"\b(" + "|".join(SAID_AS_WORDS) + r")\b")


def normalize_text(text: str) -> str:
    """Rewrite ``text`` so a voice reads numbers, money, dates, times and identifiers naturally."""
    text = unicodedata.normalize("NFKC", text).translate(_TRANSLATE)
    for pattern, replace in _RULES:
        text = pattern.sub(replace, text)
    text = _SAID_AS_WORDS.sub(lambda m: SAID_AS_WORDS[m.group(1)], text)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" +([,.!?;:])", r"\1", text)
    return text.strip()
