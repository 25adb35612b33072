"""What the talk page works with: the bot's media streams, tickets for them, and text chats."""

from __future__ import annotations

import time
from dataclasses import dataclass

from ivr.console.browser_calls import BrowserCalls
from ivr.console.chats import TextChats
from ivr.services import Services
from telephony.websocket.server import WebSocketMediaServer


@dataclass(frozen=True)
class TalkDesk:
    """Browser calls go through ``media`` (None: the media streams are off, so only the text
    chat works); ``calls`` holds their tickets, ``chats`` the typed conversations."""

    media: WebSocketMediaServer | None
    calls: BrowserCalls
    chats: TextChats

    @classmethod
    def of_server(cls, services: Services, media: WebSocketMediaServer | None) -> TalkDesk:
        return cls(media, BrowserCalls(time.time), TextChats(services))

    async def close(self) -> None:
        await self.chats.close()
