"""Structured log fields for every layer: an event name plus key=value fields on the record.

Any module logs with plain ``logging.getLogger(__name__)`` and
``log.info("asr.final", extra=fields(call_id=..., ms=...))``. The application installs the one
handler that renders the fields, as text or JSON lines, and masks each value (``ivr/logs.py``).
This lives below ``speech/``, ``dialogue/`` and ``telephony/`` so that none of them imports the
application just to log.
"""

from __future__ import annotations

from typing import Any

FIELDS_ATTRIBUTE = "ivr_fields"
"""The log record attribute that holds the fields (what the formatters read)."""


def fields(**values: Any) -> dict[str, Any]:
    """Wrap structured fields for the ``extra=`` argument of a logging call."""
    return {FIELDS_ATTRIBUTE: values}
