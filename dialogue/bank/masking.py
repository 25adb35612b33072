"""Masking of free text a caller dictated; numbers alone are masked by ``masking``."""

from __future__ import annotations


def mask_free_text(text: str) -> str:
    """Free text a caller dictated (a complaint, a disputed charge) with long numbers masked.

    Uses the same rule as the log filter (:func:`dialogue.bank.redaction.redact_secrets`):
    runs of eight or more digits keep only their last four, so a card number read out is not
    stored, and digits said after a PIN word are replaced.
    """
    from dialogue.bank.redaction import redact_secrets

    return redact_secrets(text).text
