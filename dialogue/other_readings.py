"""A request the NLU cannot understand, read again from the recogniser's other hypotheses.

Whisper's beam keeps five hypotheses of an utterance and the transcript is the likeliest; on a
bad line that one can be nonsense while a less likely one is what the caller said ("I need to
report the matching transaction." / "... the dodging transaction."). The call sends the others
with the transcript (message metadata :data:`~dialogue.protocol.ASR_ALTERNATIVES_KEY`, the
likeliest first). When the NLU reads the transcript as ``nlu_fallback``, they are parsed in
turn (the message's metadata says each is another reading,
:data:`~dialogue.protocol.OTHER_READING_KEY`), and the first one understood is taken. A reading
is understood only as a task or FAQ its meaning confirms
(:class:`dialogue.neighbour_confirm.NeighbourConfirmClassifier`), and the bot confirms it before
acting ("You'd like to report fraud, is that right?"): DIET is as sure of a garbled reading as
of a clear one, and each further reading is one more chance for garbage to look like a task.
A yes, a stop or a goodbye is never taken from a reading the recogniser found less likely.

A transcript the NLU understands is never second-guessed, and the readings are parsed only for
a fallback. They are taken out of the metadata before Rasa keeps it in the tracker: the
transcript is what the conversation records. Rasa has no hook between its parse and the
tracker, so :func:`install` wraps ``MessageProcessor.parse_message`` wherever Rasa parses (in
process, ``rasa run``, the understanding benchmark).
"""

from __future__ import annotations

import logging
from typing import Any

from dialogue.actions.common import NLU_CONFIRM
from dialogue.actions.confirmation import guessed_intent
from dialogue.protocol import ASR_ALTERNATIVES_KEY, OTHER_READING_KEY
from logfields import fields

log = logging.getLogger(__name__)

MAX_READINGS = 4
"""Other readings read at most (whisper's beam keeps 5 hypotheses, one is the transcript)."""
MAX_READING_CHARS = 500
"""A longer "reading" is not one of an utterance: it is ignored, as a peer's size is checked."""

_rasa_parse: Any = None


def offered_readings(metadata: Any) -> list[str]:
    """The other readings a message's metadata offers, as far as they can be trusted: a list of
    texts, the first :data:`MAX_READINGS` that are short enough; anything else offers none."""
    offered = metadata.get(ASR_ALTERNATIVES_KEY) if isinstance(metadata, dict) else None
    if not isinstance(offered, list):
        return []
    return [
        text
        for text in offered[:MAX_READINGS]
        if isinstance(text, str) and text.strip() and len(text) <= MAX_READING_CHARS
    ]


def _intent(parsed: dict[str, Any]) -> str | None:
    return (parsed.get("intent") or {}).get("name")


async def _parse_message(
    self: Any, message: Any, tracker: Any = None, only_output_properties: bool = True
) -> dict[str, Any]:
    """``MessageProcessor.parse_message``, reading the recogniser's other readings of a
    transcript it reads as a fallback (see the module's docstring)."""
    from rasa.core.channels.channel import UserMessage
    from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME

    metadata = message.metadata if isinstance(message.metadata, dict) else {}
    readings = offered_readings(metadata)
    metadata.pop(ASR_ALTERNATIVES_KEY, None)
    metadata.pop(OTHER_READING_KEY, None)  # only this wrapper says a text is another reading
    parsed: dict[str, Any] = await _rasa_parse(self, message, tracker, only_output_properties)
    if _intent(parsed) != DEFAULT_NLU_FALLBACK_INTENT_NAME:
        return parsed
    for rank, text in enumerate(readings, start=1):
        other = UserMessage(
            text,
            sender_id=message.sender_id,
            input_channel=message.input_channel,
            metadata={**metadata, OTHER_READING_KEY: rank},
        )
        reading: dict[str, Any] = await _rasa_parse(self, other, tracker, only_output_properties)
        if _intent(reading) == NLU_CONFIRM:
            log.info("nlu.other_reading", extra=fields(rank=rank, intent=guessed_intent(reading)))
            return reading
    return parsed


def install() -> None:
    """Read other readings in this process's Rasa (idempotent)."""
    global _rasa_parse
    from rasa.core.processor import MessageProcessor

    if _rasa_parse is None:
        _rasa_parse = MessageProcessor.parse_message
    MessageProcessor.parse_message = _parse_message
