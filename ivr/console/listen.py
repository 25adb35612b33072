"""A call's recording as a WAV for the browser's player: decrypted a piece at a time as it is
sent, with byte ranges so the player can seek, and an audit row for every request.

The WAV header is made here (its length is known from the chunk framing before any audio is
decrypted), then the PCM follows in pieces of ``PIECE_BYTES``, each read off the event loop:
memory stays at one chunk and one piece however long the call. A ``Range`` request (the
player seeking) gets 206 with just those bytes; aiohttp's ``FileResponse`` does this only for
files on disk, and a decrypted copy on disk is what sealing avoids, so it is done here. The
response may be kept only by the browser that asked (``Cache-Control: private, no-store``).
"""

from __future__ import annotations

import asyncio
import struct

from aiohttp import web

from ivr.console import audit, params
from ivr.console.auth import SECURITY_HEADERS
from ivr.console.layout import message
from ivr.console.recordings import RecordingUnavailable
from ivr.console.state import session_of, state_of
from ivr.sealed import SAMPLE_BYTES, RecordingError, SealedReader

PIECE_BYTES = 64 * 1024
WAV_HEADER_BYTES = 44
CACHE_CONTROL = "private, no-store"


def wav_header(rate: int, channels: int, data_bytes: int) -> bytes:
    """The 44-byte header of a 16-bit PCM WAV holding ``data_bytes`` of audio."""
    block = channels * SAMPLE_BYTES
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, 8 * SAMPLE_BYTES)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


async def recording_wav(request: web.Request) -> web.StreamResponse:
    """``/console/calls/{id}/recording.wav``: the recording the call's record names."""
    call_id = params.call_id(request.match_info["call_id"])
    console = state_of(request)
    shelf = console.tools.recordings
    detail = await asyncio.to_thread(console.calls.call, call_id)
    if detail is None:
        return message(request, "No such call", f"There is no call {call_id}.", 404)
    if shelf is None:
        return message(request, "No recordings", "Recordings are not configured.", 404)
    try:
        reader = await asyncio.to_thread(shelf.open, detail.call.recording)
    except RecordingUnavailable as exc:
        return message(request, "Recording unavailable", str(exc), 404)
    try:
        return await _send(request, reader, call_id)
    finally:
        await asyncio.to_thread(reader.close)


async def _send(request: web.Request, reader: SealedReader, call_id: str) -> web.StreamResponse:
    header = wav_header(reader.rate, reader.channels, reader.size)
    total = WAV_HEADER_BYTES + reader.size
    try:
        first, end = _range(request, total)
    except ValueError:
        refusal = web.Response(status=416, headers={"Content-Range": f"bytes */{total}"})
        refusal.headers.update(SECURITY_HEADERS)
        return refusal
    user = session_of(request).user
    detail = f"bytes {first}-{end - 1} of {total}" + ("" if reader.complete else ", truncated")
    await asyncio.to_thread(
        state_of(request).audit.record, user.name, audit.RECORDING_PLAY, call_id, detail
    )
    partial = "Range" in request.headers
    response = web.StreamResponse(status=206 if partial else 200)
    response.content_type = "audio/wav"
    response.content_length = end - first
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = CACHE_CONTROL
    response.headers["Accept-Ranges"] = "bytes"
    if partial:
        response.headers["Content-Range"] = f"bytes {first}-{end - 1}/{total}"
    await response.prepare(request)
    if first < WAV_HEADER_BYTES:
        await response.write(header[first:end])
    position = max(first, WAV_HEADER_BYTES)
    while position < end:
        count = min(PIECE_BYTES, end - position)
        try:
            piece = await asyncio.to_thread(reader.read, position - WAV_HEADER_BYTES, count)
        except RecordingError:
            # A damaged chunk: the player keeps what came before it; the connection is cut,
            # since the promised length can no longer be sent.
            if request.transport is not None:
                request.transport.close()
            return response
        await response.write(piece)
        position += count
    await response.write_eof()
    return response


def _range(request: web.Request, total: int) -> tuple[int, int]:
    """The bytes asked for, ``[first, end)``; everything without a Range header. ValueError
    for a range that is malformed or outside the file."""
    if "Range" not in request.headers:
        return 0, total
    asked = request.http_range
    first = asked.start or 0
    if first < 0:
        first = max(0, total + first)
    end = total if asked.stop is None else min(asked.stop, total)
    if first >= end:
        raise ValueError("range outside the recording")
    return first, end
