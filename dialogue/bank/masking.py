"""Masking of account and card numbers to their last four digits, applied at the source."""

from __future__ import annotations

import re

_NON_DIGITS = re.compile(r"\D")


def last4(number: str) -> str:
    """The last four digits of an account or card number (fewer if the number is shorter)."""
    return _NON_DIGITS.sub("", number)[-4:]


def mask_number(number: str) -> str:
    """``31415926`` -> ``****5926``: every digit but the last four replaced by ``*``."""
    digits = _NON_DIGITS.sub("", number)
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]


def spoken_last4(number: str) -> str:
    """The last four digits spaced out so text-to-speech reads them one by one: ``5 9 2 6``."""
    return " ".join(last4(number))
