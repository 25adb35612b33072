"""Replaying recorded calls: the caller's side of a recording, fed through a fresh CallSession.

Input is the bot's own stereo recording (caller left, bot right; sealed, opened with the
configured recording keys) or any mono/stereo PCM WAV of a caller at any rate (resampled to the
call rate). A recording named ``<call id>.sealed`` (or ``.wav``) whose call is in the record
store is compared turn by turn with that record (``ivr.qa.compare``); any other recording is
replayed for a report only.

Keyed entries are not in the audio. Their place in the call is known (the record has each turn's
kind and start time) but not their digits: account numbers are masked in the record and PINs were
never stored, and the recording's caller channel is silent while a PIN is entered. So the QA
operator supplies them: ``keys`` (keyed digits, in order) and ``pin`` (a test PIN for the call's
secure entries). Without them the replay stops at the first keyed turn and is compared up to
there; the report says so.

Timing: in real time the caller audio runs exactly as recorded and keys are pressed at their
recorded moments. On the virtual-clock line the audio is cut after each utterance (where the
endpointer closes it) and at each keyed entry; each piece is fed as fast as the bot takes it,
and the line waits for the bot's turn before going on, so the bot is never talked over because
it was slower in wall time than the original.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ivr.qa.compare import ResponseCatalog, compare_turns
from ivr.qa.lines import CallerLine, QaBridge
from ivr.qa.observe import CallLog, ObservedRecords
from ivr.qa.results import CallResult, Diff, handoff_reason, masked_turn, recording_seconds
from ivr.recording_keys import Keyring
from ivr.records import CallRecordStore
from ivr.sealed import SUFFIX, RecordingError, open_recording
from speech.endpointer import Endpointer, UtteranceEnded
from speech.resample import resample
from speech.settings import VadConfig
from telephony.bridge import CALL_RATE

UNANSWERED_S = 8.0
"""On the virtual-clock line, how long to wait for a reply to an utterance the bot may ignore."""
KEY_LEAD_S = 0.5
"""Keys are pressed this long before the recorded end of the entry."""
ONSET_MARGIN_MS = 500
"""Skipping ahead in the recording stops this long before the caller's next utterance."""
_KEYED = ("dtmf", "secure_dtmf", "secure_speech")


class ReplayError(ValueError):
    """A recording cannot be replayed; the message names the file."""


@dataclass(frozen=True)
class Original:
    """The call record a recording belongs to."""

    call: dict[str, Any]
    turns: list[dict[str, Any]]


@dataclass(frozen=True)
class _Piece:
    """Caller audio up to ``at_ms``, then ``keys`` (if any)."""

    at_ms: int
    keys: str = ""
    utterance: bool = False
    starts_ms: int | None = None
    """Where the caller starts acting in this piece (speech onset); skipping stops before it."""

    @property
    def onset_ms(self) -> int:
        return self.at_ms if self.starts_ms is None else self.starts_ms


def find_recordings(paths: Sequence[Path]) -> list[Path]:
    """The recordings named, folders searched recursively (sealed and WAV), in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            wavs = sorted(p for p in path.rglob("*") if p.suffix in (SUFFIX, ".wav"))
            if not wavs:
                raise ReplayError(f"{path}: no {SUFFIX} or .wav recordings in this folder")
            found.extend(wavs)
        elif path.is_file():
            found.append(path)
        else:
            raise ReplayError(f"{path}: no such file or folder")
    return found


def caller_channel(path: Path, rate: int, keyring: Keyring | None = None) -> bytes:
    """The caller's audio of a recording (left channel of a stereo file) at ``rate``; a sealed
    recording is opened with ``keyring``."""
    try:
        source_rate, channels, frames = open_recording(path, keyring)
    except RecordingError as exc:
        raise ReplayError(str(exc)) from exc
    samples = np.frombuffer(frames, "<i2").reshape(-1, channels)[:, 0]
    if not len(samples):
        raise ReplayError(f"{path}: contains no audio")
    if source_rate != rate:
        samples = resample(samples, source_rate, rate)
    return samples.astype("<i2").tobytes()


def find_original(store: CallRecordStore, recording: Path) -> Original | None:
    """The record of the call a recording is named after, if the store has it."""
    row = store.call(recording.stem)
    if row is None or row["call_id"] != recording.stem:
        return None
    turns = [dict(t) for t in store.turns(row["call_id"])]
    return Original(dict(row), turns)


async def run_replay(
    recording: Path,
    original: Original | None,
    bridge: QaBridge,
    records: ObservedRecords,
    catalog: ResponseCatalog,
    *,
    keys: Sequence[str] = (),
    pin: str | None = None,
    turn_timeout_s: float = 60.0,
) -> CallResult:
    """Replay one recording; compare with ``original`` when given. Never raises for a bad call."""
    started = time.monotonic()
    result = CallResult(recording.stem, str(recording), "replay", compared=original is not None)
    config = bridge.services.config
    try:
        pcm = caller_channel(recording, CALL_RATE, bridge.services.recording_keys)
        pieces, upto = _timeline(pcm, original, list(keys), pin, config.vad, CALL_RATE)
        if original is not None and upto < len(original.turns):
            result.notes.append(
                f"compared up to turn {upto}: turn {upto} was keyed "
                f"({original.turns[upto]['input_kind']}) and no "
                + ("--pin" if original.turns[upto]["input_kind"] != "dtmf" else "--keys")
                + " was given for it"
            )
        async with bridge.call() as caller:
            log = caller.log
            await _feed(caller, records, pcm, pieces, CALL_RATE, turn_timeout_s)
            if not log.ended and original is not None and upto == len(original.turns):
                await records.wait(lambda: log.ended, 2.0 if caller.fast else 10.0)
        await records.wait(lambda: log.ended, 30)
        _fill(result, log, original, upto, catalog)
    except ReplayError as exc:
        result.error = str(exc)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    result.wall_s = round(time.monotonic() - started, 2)
    return result


def _timeline(
    pcm: bytes,
    original: Original | None,
    keys: list[str],
    pin: str | None,
    vad: VadConfig,
    rate: int,
) -> tuple[list[_Piece], int]:
    """Where to cut the caller audio, what to key, and how many original turns can be replayed."""
    pieces: list[_Piece] = []
    endpointer = Endpointer(vad, rate)
    endpointer.arm(no_input=False)
    for event in endpointer.feed(pcm + bytes(vad.end_of_speech_ms * rate // 1000 * 2)):
        if isinstance(event, UtteranceEnded):
            onset = max(0, event.start_ms - ONSET_MARGIN_MS)
            pieces.append(_Piece(event.at_ms, utterance=True, starts_ms=onset))
    upto = len(original.turns) if original is not None else 0
    end_ms = len(pcm) * 1000 // (2 * rate)
    if original is not None:
        begun = float(original.call["started_at"])
        for index, turn in enumerate(original.turns):
            if turn["input_kind"] not in _KEYED:
                continue
            digits = pin if turn["input_kind"] != "dtmf" else (keys.pop(0) if keys else None)
            at_ms = int((float(turn["started_at"]) - begun - KEY_LEAD_S) * 1000)
            if not digits:
                upto = index
                end_ms = max(0, at_ms)
                break
            pieces.append(_Piece(max(0, at_ms), keys=digits))
    pieces = sorted((p for p in pieces if p.at_ms <= end_ms), key=lambda p: p.at_ms)
    pieces.append(_Piece(end_ms))
    return pieces, upto


async def _feed(
    caller: CallerLine,
    records: ObservedRecords,
    pcm: bytes,
    pieces: list[_Piece],
    rate: int,
    timeout_s: float,
) -> None:
    """Play the caller's side; on a virtual clock, wait for the bot after each utterance and key
    entry, then skip the recorded stretch the bot's own turn took (its reply and thinking time
    are in the recording as caller silence), so the caller's next move keeps its original
    distance from the end of the bot's turn."""
    log = caller.log
    if caller.fast:  # the recording starts with the call: feed it along with the greeting
        await records.wait(lambda: log.requests > 0 or log.ended, timeout_s)
    position = 0
    for index, piece in enumerate(pieces):
        if log.ended:
            return
        cut = max(position, min(len(pcm), piece.at_ms * rate // 1000 * 2))
        asked, line_before = log.requests, caller.elapsed_s
        if cut > position:
            await caller.say(pcm[position:cut])
        fed_s = (cut - position) / 2 / rate
        position = cut
        if piece.keys:
            await caller.press(piece.keys)
        if not caller.fast or not (piece.keys or piece.utterance):
            continue
        await _settle(records, log, asked, timeout_s if piece.keys else UNANSWERED_S)
        bot_s = caller.elapsed_s - line_before - fed_s
        following = pieces[index + 1].onset_ms * rate // 1000 * 2 if index + 1 < len(pieces) else 0
        position = max(position, min(position + int(bot_s * rate) * 2, following))


async def _settle(records: ObservedRecords, log: CallLog, asked: int, timeout_s: float) -> None:
    """Wait until the bot has answered the caller's move (a request after the first ``asked``)
    and recorded that turn, or the call ended; an ignored utterance costs ``timeout_s``."""
    await records.wait(lambda: log.ended or (log.requests > asked and not log.owed), timeout_s)
    await records.wait(lambda: log.ended or not log.owed, timeout_s)


def _fill(
    result: CallResult,
    log: CallLog,
    original: Original | None,
    upto: int,
    catalog: ResponseCatalog,
) -> None:
    result.call_id = log.call_id
    result.outcome = log.outcome or "in_progress"
    result.reason = log.reason
    result.recording = log.recording
    result.turns = [masked_turn(t) for t in log.turns]
    result.handoff = handoff_reason(result.turns)
    result.line_s = recording_seconds(log.recording)
    if original is None:
        result.notes.append("no call record for this recording: replayed for a report only")
        return
    old = original.turns[:upto]
    for index, turn in enumerate(result.turns[:upto]):
        if index < len(old):
            turn["expected_intent"] = old[index]["intent"]
            if old[index]["input_kind"] == turn["input_kind"] == "speech":
                turn["reference"] = old[index]["transcript"]
    if upto < len(original.turns):
        result.diffs = compare_turns(old, result.turns[:upto], catalog)
        return
    result.diffs = compare_turns(old, result.turns, catalog)
    if original.call["outcome"] != result.outcome:
        result.diffs.append(Diff("outcome", str(original.call["outcome"]), result.outcome))
