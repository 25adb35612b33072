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


def mask_free_text(text: str) -> str:
    """Free text a caller dictated (a complaint, a disputed charge) with long numbers masked.

    Uses the same rule as the log filter (:func:`dialogue.bank.redaction.redact_secrets`):
    runs of eight or more digits keep only their last four, so a card number read out is not
    stored, and digits said after a PIN word are replaced.
    """
    from dialogue.bank.redaction import redact_secrets

    return redact_secrets(text).text
