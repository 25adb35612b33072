"""``ivr talk``: a call with the bot through this machine's microphone and speaker.

The CallSession is the one a phone call gets (barge-in, endpointing, keypad-free turns, records
and recordings under transport ``local``); only the bridge is the sound card's.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ivr.config import Config
from ivr.records import Outcome
from ivr.services import Services, start_services
from ivr.session import CallSession
from telephony.local import LocalAudioBridge, pick_devices


async def talk(
    config: Config,
    pa: Any,
    input_device: int | None = None,
    output_device: int | None = None,
    *,
    services: Services | None = None,
    stop: asyncio.Event | None = None,
) -> Outcome:
    """Run one call on the sound card until the bot ends it or ``stop`` is set (the caller
    hangs up); returns its outcome. ``pa`` is a ``pyaudio.PyAudio``."""
    microphone, speaker = pick_devices(pa, input_device, output_device)
    own_services = services is None
    ready = services or await start_services(config)
    bridge = LocalAudioBridge(pa, microphone, speaker)
    bridge.open()
    bridge.start()
    call = CallSession(bridge, ready)
    session = asyncio.create_task(call.run())
    hung_up = asyncio.create_task((stop or asyncio.Event()).wait())
    try:
        await asyncio.wait({session, hung_up}, return_when=asyncio.FIRST_COMPLETED)
        if not session.done():
            bridge.end("caller hung up")
            await asyncio.wait({session})
        return call.outcome
    finally:
        hung_up.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await hung_up
        await bridge.hangup("talk ended")
        if own_services:
            await ready.close()
