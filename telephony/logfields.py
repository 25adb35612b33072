"""Structured log fields for telephony: an event name plus key=value fields on the record.

``log.info("sip.call.ended", extra=fields(call_id=..., reason=...))`` on a plain
``logging.getLogger(__name__)``; the application's handler renders and masks the fields. The
attribute is the one the application's formatters read, so telephony needs no import of it.
"""

from __future__ import annotations

from typing import Any

FIELDS_ATTRIBUTE = "ivr_fields"
"""The log record attribute that holds the fields (what the formatters read)."""


def fields(**values: Any) -> dict[str, Any]:
    """Wrap structured fields for the ``extra=`` argument of a logging call."""
    return {FIELDS_ATTRIBUTE: values}
