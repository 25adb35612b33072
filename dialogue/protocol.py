"""How the call layer talks to the assistant: the dialogue client protocol, whatever runs Rasa.

:mod:`dialogue.client` holds the two implementations (Rasa in this process, or a remote Rasa
server) and :func:`dialogue.client.make_client`, which picks one from the configuration.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from dialogue.reply import Reply

ASR_CONFIDENCE_KEY = "asr_confidence"
"""Message metadata: how sure the recogniser was of the transcript's words (0..1); absent for
typed text and keys."""
ASR_ALTERNATIVES_KEY = "asr_alternatives"
"""Message metadata: the recogniser's other readings of the transcript's audio, the likeliest
first (``dialogue.other_readings``); absent when it has none, and never kept in the tracker."""
OTHER_READING_KEY = "other_reading"
"""Message metadata of a reading the NLU parses in place of a transcript it could not
understand: its rank among the recogniser's other readings (1: the likeliest)."""


class DialogueClient(Protocol):
    """How the call layer talks to the assistant; one conversation per call."""

    async def start(self) -> None:
        """Load the model / connect, and start the action server."""

    async def close(self) -> None:
        """Release everything :meth:`start` acquired."""

    async def begin(self, conversation_id: str, metadata: dict[str, Any] | None = None) -> Reply:
        """The call was answered: the bot greets first."""

    async def send(
        self, conversation_id: str, text: str, metadata: dict[str, Any] | None = None
    ) -> Reply:
        """What the caller said (a transcript)."""

    async def send_digits(self, conversation_id: str, digits: str, *, secure: bool) -> Reply:
        """Keypad digits; ``secure`` for a PIN (tokenised, never sent to Rasa)."""

    async def no_input(self, conversation_id: str) -> Reply:
        """The caller said nothing before the no-input timeout."""

    def expects_secure_input(self, conversation_id: str) -> bool:
        """True when the bot's last turn asked for a PIN (route keys with ``secure=True``)."""

    async def end(self, conversation_id: str) -> None:
        """The call is over: forget what the client keeps of its conversation."""


DialogueRequest = Callable[[DialogueClient], Awaitable[Reply]]
"""One turn's request, made of whichever client the call has (``lambda d: d.no_input(id)``)."""
