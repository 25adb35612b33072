"""The one rule for showing account, card and caller numbers outside the bank: last four digits.

Every layer that shows such a number (the bank's replies and audit, the assistant's entities,
the SIP server's log lines, the call records) masks it here. It sits below ``telephony/``,
``speech/`` and ``dialogue/`` and imports none of them, so each may use it without reaching up
into the application or sideways into another layer.
"""

from __future__ import annotations

import re

_NON_DIGITS = re.compile(r"\D")
SHOWN_DIGITS = 4
WHOLE_NUMBER_DIGITS = 8
"""Account numbers and longer: a run this long is a whole number, shown by its last four."""


def last4(number: str) -> str:
    """The last four digits of an account or card number (fewer if the number is shorter)."""
    return _NON_DIGITS.sub("", number)[-SHOWN_DIGITS:]


def mask_number(number: str) -> str:
    """``31415926`` -> ``****5926``: every digit but the last four replaced by ``*``.

    A number of four digits or fewer is all stars: it could be a PIN.
    """
    digits = _NON_DIGITS.sub("", number)
    if len(digits) <= SHOWN_DIGITS:
        return "*" * len(digits)
    return "*" * (len(digits) - SHOWN_DIGITS) + digits[-SHOWN_DIGITS:]


def mask_identifier(number: str) -> str:
    """An account number or part of one: a whole number (``WHOLE_NUMBER_DIGITS`` or more) keeps its
    last four, a part keeps none (its digits plus the last four shown elsewhere would give
    away more than four)."""
    digits = _NON_DIGITS.sub("", number)
    if len(digits) < WHOLE_NUMBER_DIGITS:
        return "*" * len(digits)
    return mask_number(digits)


def mask_last4(last_four: str) -> str:
    """A card known only by its last four digits, shown as ``****1111``."""
    return "*" * SHOWN_DIGITS + last4(last_four)


def mask_caller(caller: str) -> str:
    """A caller id keeps its last four digits; a SIP URI keeps its host for routing questions."""
    user, at, host = caller.partition("@")
    scheme, colon, number = user.rpartition(":")
    if sum(ch.isdigit() for ch in number) >= SHOWN_DIGITS:
        number = mask_number(number)
    return f"{scheme}{colon}{number}{at}{host}"
