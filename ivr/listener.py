"""The listening side of a call: caller audio in, the session's input items out.

Caller audio goes through the echo canceller (the bot's own voice taken out) into the
endpointer, which finds where the caller's utterances start and end; while the caller speaks
the audio is fed to the streaming recogniser in 100 ms batches, so little is left to recognise
once the utterance ends. When the caller has been quiet ``asr.speculate_after_ms`` into an
utterance, recognition starts on what was said so far while the endpointer's hangover runs; a
guess that reads as a finished sentence ends the turn at ``vad.early_end_ms``. The recording
holds each utterance's caller audio until its transcript says whether it held a secret.

The listener hears, the :class:`~ivr.session.CallSession` decides: every :class:`Utterance`
and :class:`Silence` goes to one callback (the session's input queue), and the start of speech
to another (barge-in). Keys, turns, speaking and the call record stay with the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ivr.config import Config
from ivr.logs import get_logger
from ivr.metrics import Metrics
from ivr.recording import CallerHold, StereoRecorder
from logfields import fields
from speech.asr.base import AsrEngine, AsyncAsrStream, Transcript
from speech.digits import DigitExpectation
from speech.echo import EchoCanceller
from speech.endpointer import Endpointer, NoInput, SpeechStarted, UtteranceEnded
from speech.turn_end import sounds_finished

log = get_logger(__name__)

ASR_FEED_MS = 100
"""Caller audio is handed to the recogniser in 100 ms batches while the caller speaks."""


@dataclass
class _Speculation:
    """Recognition started during the end-of-speech hangover, on the audio up to then."""

    task: asyncio.Task[Transcript | None]
    speech_end_ms: int
    """The endpointer's last voiced frame when it started: still the last one if it holds."""
    finished: bool | None = None
    """Whether the guess reads as a finished sentence, judged once it is in."""


@dataclass
class Utterance:
    """The caller said something and stopped: the endpointer closed an utterance."""

    event: UtteranceEnded
    speech_end: float
    """Loop time of the caller's last voiced frame."""
    closed: float
    """Loop time the endpointer closed the utterance."""
    speculation: _Speculation | None = None
    """A recognition of this very utterance already under way (the caller stayed quiet)."""
    hold: CallerHold | None = None
    """The recording's hold on this utterance's caller audio, released once it is transcribed."""


@dataclass
class Silence:
    """The caller said nothing for the no-input wait after the bot finished."""

    at: float


Heard = Utterance | Silence


class Listener:
    """Hears one call's caller: feed it caller audio (:meth:`hear`), it emits what it heard."""

    def __init__(
        self,
        config: Config,
        rate: int,
        metrics: Metrics,
        call_id: str,
        *,
        emit: Callable[[Heard], None],
        on_speech: Callable[[], None],
    ) -> None:
        self.config = config
        self.rate = rate
        self.metrics = metrics
        self.call_id = call_id
        self.endpointer = Endpointer(config.vad, rate)
        self.echo = EchoCanceller(rate) if config.call.echo_cancel else None
        """Fed the bot's audio as it is sent (``echo.far``), to take it out of the caller's."""
        self.recorder: StereoRecorder | None = None
        """The call's recording once it is open: caller audio goes in, utterances held."""
        self._emit = emit
        self._on_speech = on_speech
        self._loop = asyncio.get_running_loop()
        self._asr: AsyncAsrStream | None = None
        self._asr_buffer = bytearray()
        self._asr_feeds: list[asyncio.Task[Transcript | None]] = []
        self._speculation: _Speculation | None = None
        self._preview: asyncio.Task[Transcript | None] | None = None
        """The latest speculative recognition, voided or not: one at a time per call."""
        self._hold: CallerHold | None = None
        """The recording's hold on the utterance the caller is saying now."""
        self._digits: DigitExpectation | None = None
        """The digit string the bot asked for, if any: a guess holding all of it is finished."""

    @property
    def recognising(self) -> bool:
        """A recognition started during the hangover is still running."""
        return self._preview is not None and not self._preview.done()

    @property
    def in_speech(self) -> bool:
        """The caller is in the middle of an utterance."""
        return self.endpointer.in_speech

    async def start(self, engine: AsrEngine) -> None:
        """Open the call's recognition stream; audio heard before waits for it."""
        self._asr = await engine.open_stream_async(self.rate)

    def arm_no_input(self, wait_ms: int) -> None:
        """The caller's turn begins: listen afresh, and say :class:`Silence` after ``wait_ms``."""
        self.endpointer.arm(no_input=True, no_input_ms=wait_ms)

    def disarm_no_input(self) -> None:
        """No :class:`Silence` until armed again (the bot speaks, the caller types)."""
        self.endpointer.disarm_no_input()

    def set_hints(self, hints: Sequence[str]) -> None:
        """Bias recognition toward ``hints`` from the next utterance on."""
        if self._asr is not None:
            self._asr_feeds.append(asyncio.create_task(self._set_hints(hints)))

    async def _set_hints(self, hints: Sequence[str]) -> None:
        assert self._asr is not None
        await self._asr.set_hints(hints)
        return None

    def expect_digits(self, digits: DigitExpectation | None) -> None:
        """Recognise the next utterances as the answer to a request for digits (None: as any
        speech), until told otherwise."""
        self._digits = digits
        if self._asr is not None:
            self._asr_feeds.append(asyncio.create_task(self._set_digits(digits)))

    async def _set_digits(self, digits: DigitExpectation | None) -> None:
        assert self._asr is not None
        await self._asr.set_digits(digits)
        return None

    def hear(self, pcm: bytes) -> None:
        """One chunk of the caller's audio, as it arrives."""
        if self.recorder is not None:
            self.recorder.caller(pcm)
        clean = self.echo.near(pcm) if self.echo is not None else pcm
        was_speaking = self.endpointer.in_speech
        events = self.endpointer.feed(clean)
        if was_speaking and self.endpointer.in_speech:
            self._asr_buffer += clean
            if len(self._asr_buffer) >= self.rate * 2 * ASR_FEED_MS // 1000:
                self._feed_asr()
        for event in events:
            if isinstance(event, SpeechStarted):
                self._hold_caller(len(event.audio) + len(pcm))
                self._asr_buffer = bytearray(event.audio)
                self._speculation = None
                self._on_speech()
            elif isinstance(event, UtteranceEnded):
                self._utterance_ended(event)
            elif isinstance(event, NoInput):
                self._emit(Silence(self._loop.time()))
        self._speculate()

    async def transcribe(self, utterance: Utterance) -> Transcript:
        """What the caller said in ``utterance``: the guess made in the hangover if it holds,
        else the stream's final recognition. Engine failures are raised as they come."""
        assert self._asr is not None
        speculation = utterance.speculation
        await self._flush_asr()
        guess = speculation.task.result() if speculation is not None else None
        if guess is not None:
            await self._asr.discard()
            self.metrics.count("asr_speculation", kind="kept")
            return guess
        return await self._asr.finish()

    def release(self, utterance: Utterance, *, redact: bool) -> None:
        """The utterance is transcribed: write its held caller audio, or silence if secret."""
        if self.recorder is not None and utterance.hold is not None:
            self.recorder.release_caller(utterance.hold, redact=redact)

    async def close(self) -> None:
        """Stop recognising: cancel what is still being fed, close the stream."""
        for task in self._asr_feeds:
            task.cancel()
        if self._asr_feeds:
            await asyncio.wait(self._asr_feeds)
            for task in self._asr_feeds:
                if not task.cancelled() and task.exception() is not None:
                    log.warning(
                        "asr.feed_failed",
                        extra=fields(call_id=self.call_id, error=str(task.exception())),
                    )
        if self._asr is not None:
            try:
                await self._asr.close()
            except Exception:
                log.exception("asr.close_failed", extra=fields(call_id=self.call_id))

    def record_to(self, recorder: StereoRecorder) -> None:
        """Feed ``recorder`` the caller's audio, and have it keep unwritten as much as a hold
        may reach back for (below) and hold an utterance for as long as it may take to be said
        and transcribed."""
        vad = self.config.vad
        # The endpointer's look-back is at most twice the pre-roll plus the start window; a hold
        # reaches one pre-roll further.
        recorder.reserve_caller(
            3 * vad.pre_roll_ms + vad.speech_start_ms + 200, vad.max_utterance_ms + 15_000
        )
        self.recorder = recorder

    def _hold_caller(self, back_bytes: int) -> None:
        """An utterance began: hold its caller audio in the recording from before its pre-roll
        (the event's audio and this chunk's, and one more pre-roll: a soft onset the VAD did not
        call voice, a breath or the "f" of "four", is muted with a secret) until it is
        transcribed."""
        if self.recorder is None:
            return
        if self._hold is not None:  # its end was never reported: it ends here
            self.recorder.end_hold(self._hold)
        back_ms = back_bytes * 1000 // (self.rate * 2) + self.config.vad.pre_roll_ms
        self._hold = self.recorder.hold_caller(back_ms)

    def _utterance_ended(self, event: UtteranceEnded) -> None:
        now = self._loop.time()
        speech_end = now - (event.at_ms - event.end_ms) / 1000
        speculation, self._speculation = self._speculation, None
        if speculation is not None and speculation.speech_end_ms != event.end_ms:
            speculation = None
        hold, self._hold = self._hold, None
        if hold is not None and self.recorder is not None:
            self.recorder.end_hold(hold)
        self._emit(Utterance(event, speech_end, now, speculation, hold))

    def _speculate(self) -> None:
        """Once the caller has been quiet ``asr.speculate_after_ms`` into an utterance, start
        recognising it while the endpointer's hangover runs; speaking again voids the guess.
        A guess that is in and reads as a finished sentence ends the turn at ``vad.early_end_ms``
        instead of the full hangover. A new guess waits for a voided one still running, so a
        caller who pauses often cannot queue up recognitions ahead of the final one."""
        endpointer = self.endpointer
        after_ms = self.config.asr.speculate_after_ms
        if self._asr is None or after_ms <= 0 or not endpointer.in_speech:
            return
        current = self._speculation
        if current is not None:
            if current.speech_end_ms == endpointer.speech_end_ms:
                self._end_early(current)
                return
            self._speculation = None
            self.metrics.count("asr_speculation", kind="voided")
        previous = self._preview
        if endpointer.trailing_silence_ms >= after_ms and (previous is None or previous.done()):
            self._feed_asr()
            task = asyncio.create_task(self._asr.preview())
            self._asr_feeds.append(task)
            self._preview = task
            self._speculation = _Speculation(task, endpointer.speech_end_ms)

    def _end_early(self, speculation: _Speculation) -> None:
        early_ms = self.config.vad.early_end_ms
        task = speculation.task
        if not early_ms or self.endpointer.trailing_silence_ms < early_ms or not task.done():
            return
        if speculation.finished is None:
            guess = None if task.cancelled() or task.exception() else task.result()
            speculation.finished = guess is not None and sounds_finished(guess.text, self._digits)
        if not speculation.finished:
            return
        event = self.endpointer.close_early()
        if event is not None:
            self.metrics.count("turn_end", kind="early")
            self._utterance_ended(event)

    def _feed_asr(self) -> None:
        if self._asr is None or not self._asr_buffer:
            return
        chunk = bytes(self._asr_buffer)
        self._asr_buffer.clear()
        self._asr_feeds.append(asyncio.create_task(self._asr.feed(chunk)))

    async def _flush_asr(self) -> None:
        self._feed_asr()
        feeds, self._asr_feeds = self._asr_feeds, []
        for task in feeds:
            await task
