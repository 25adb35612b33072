"""The talk page's text chats: each console session's typed conversation with the assistant.

A session has at most one chat (``ivr.text_call.TextCall``, a call of its own with its record);
its first message starts it with the bot's greeting, and a new message after the bot ended it
starts the next. A chat unused for ``CHAT_IDLE_S`` is ended (as ``abandoned``) the next time any
chat is used, and every chat is ended when the console stops. At most ``MAX_CHATS`` run at once:
each holds a conversation in the assistant.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.records import TurnRecord
from ivr.services import Services
from ivr.text_call import TextCall

CHAT_IDLE_S = 600.0
MAX_CHATS = 16


class ChatsBusy(RuntimeError):
    """``MAX_CHATS`` chats are running; a new one must wait."""


@dataclass
class ChatTurns:
    """What one message did: the chat's call, its new turns, and whether it began with it."""

    call: TextCall
    started: bool
    turns: list[TurnRecord] = field(default_factory=list)


@dataclass
class _Chat:
    call: TextCall
    used_at: float


class TextChats:
    """Text chats by console session (an id hash)."""

    def __init__(self, services: Services, clock: Callable[[], float] = time.monotonic) -> None:
        self.services = services
        self.clock = clock
        self._chats: dict[str, _Chat] = {}

    async def say(self, session: str, user: str, text: str) -> ChatTurns:
        """Send ``text`` in the session's chat, starting one for ``user`` if it has none."""
        await self._end_idle()
        chat = self._chats.get(session)
        done = ChatTurns(chat.call, started=False) if chat and not chat.call.over else None
        if done is None:
            if len(self._chats) >= MAX_CHATS and session not in self._chats:
                raise ChatsBusy(f"{MAX_CHATS} text chats are running; try again later")
            call = TextCall(self.services, f"console:{user}", {"console_user": user})
            self._chats[session] = _Chat(call, self.clock())
            done = ChatTurns(call, started=True, turns=[await call.begin()])
        self._chats[session].used_at = self.clock()
        done.turns.append(await done.call.say(text))
        return done

    async def end(self, session: str) -> TextCall | None:
        """End the session's chat; the call it was, if it had one."""
        chat = self._chats.pop(session, None)
        if chat is None:
            return None
        await chat.call.end()
        return chat.call

    async def close(self) -> None:
        for session in list(self._chats):
            await self.end(session)

    async def _end_idle(self) -> None:
        cutoff = self.clock() - CHAT_IDLE_S
        for session, chat in list(self._chats.items()):
            if chat.used_at <= cutoff or chat.call.over:
                await self.end(session)
