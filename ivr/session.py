"""The CallSession: the one owner of turn-taking in a call.

It listens through its :class:`~ivr.listener.Listener` (echo canceller, endpointer, streaming
recogniser: caller audio in, utterances and silences out), thinks (the final transcript, keypad
digits or a no-input event go to the assistant, whose :class:`~dialogue.reply.Reply` says what
the next turn expects), and speaks (the reply synthesised sentence by sentence and paced out by
the bridge), while watching for barge-in, keypad entry, handoff and hang-up. Bridges only move
audio; engines only transform it.

Every turn is written to the call record store as soon as it completes; the stereo recording
is written as the call goes. A PIN is never logged, recorded, transcribed into a record, or
left audible: the caller channel is muted from the secure prompt until the entry is sent. A PIN
or card number said anywhere else is redacted from the transcript and the log line, and the
caller channel is silenced over that utterance: each utterance's audio is held back in the
recorder until its transcript says whether it held a secret.

A call is keyed by an id the session generates (record, recording file, conversation id); the
peer's own id for the call is kept in the record and the logs, never used as a key or a path.
The recording is encrypted as it is written (``ivr.sealed``); without a key there is none.

Faults end in one of two ways, never in dead air or a silent drop. A recording the disk refuses
is switched off for the rest of the call (noted in the record's details) and the call goes on;
the record store keeps writes it cannot make yet (``ivr.records``). A failing engine or
assistant makes the session apologise and hand the caller to an agent; if even the apology
cannot be synthesised, the caller is handed off without it. Every failure is logged with the
call id. A server that stops (``BotServer.drain``) ends its remaining calls the same way, as
``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dialogue.bank.redaction import redact_secrets
from dialogue.callers import IDENTITY_KEY
from dialogue.payloads import ExpectDigits
from dialogue.protocol import ASR_ALTERNATIVES_KEY, ASR_CONFIDENCE_KEY, DialogueRequest
from dialogue.reply import BotMessage, Reply
from ivr.digits import FREE_ENTRY, DigitCollector, spoken_digits
from ivr.listener import Listener, Silence, Utterance
from ivr.logs import get_logger
from ivr.recording import StereoRecorder
from ivr.records import Outcome, TurnRecord, new_call_id
from ivr.sealed import SUFFIX
from ivr.services import Services
from logfields import fields
from speech.asr.base import Transcript
from speech.tts import SpeechChunk, synthesize_stream
from speech.tts.recorded import NO_RECORDINGS, RecordedPrompts, speak_stream
from telephony.bridge import AudioIn, CallBridge, DtmfIn, Hangup

log = get_logger(__name__)

MAX_PENDING_INPUTS = 32
"""Caller inputs (utterances, keypad entries, no-input events) waiting for the conversation.
It takes them one turn at a time, so only a few are ever pending; more means the conversation
is stuck (a slow assistant) while the caller, or a peer posing as one, keeps producing input,
and an unbounded queue would grow for as long as that lasts. Beyond this bound new inputs are
dropped and counted; the end of the call (hang-up, deaf caller side) always gets in."""


@dataclass
class _Digits:
    digits: str
    at: float


@dataclass
class _Gone:
    reason: str
    failed: bool


@dataclass
class _Broken:
    """The caller side of the session failed: it can no longer hear the caller."""

    reason: str


_Input = Utterance | _Digits | Silence | _Gone | _Broken
_Terminal = (_Gone, _Broken)
"""The inputs that end the conversation: never dropped."""


class DependencyError(RuntimeError):
    """An engine or the assistant failed; the call is apologised for and handed off."""


class CallSession:
    """Runs one call from greeting to hang-up over any ``CallBridge``."""

    def __init__(self, bridge: CallBridge, services: Services) -> None:
        self.bridge = bridge
        self.services = services
        self.config = services.config
        self.call_id = new_call_id()
        """The bot's id for the call: record key, recording name, conversation id."""
        self.peer_call_id = bridge.info.call_id
        """The id the peer gave the call (SIP Call-ID, callSid, ...): kept, never trusted."""
        self.rate = bridge.rate
        self.recorder: StereoRecorder | None = None
        self.outcome: Outcome = "in_progress"
        self.reason = ""
        self.turns = 0
        self._loop = asyncio.get_running_loop()
        self._inputs: asyncio.Queue[_Input] = asyncio.Queue(MAX_PENDING_INPUTS)
        self._inputs_full_logged = False
        self.listener = Listener(
            self.config,
            self.rate,
            services.metrics,
            self.call_id,
            emit=self._offer,
            on_speech=lambda: self._barge_in("speech"),
        )
        """The caller's side: audio in; utterances and silences offered to ``_inputs``."""
        self._collector = DigitCollector()
        self._expect: ExpectDigits | None = None
        self._secure = False
        self._speaking: asyncio.Task[None] | None = None
        self._interruptible = True
        self._barged_in = False
        self._hung_up = False
        self._gone: _Gone | None = None
        self._bot_ended = False
        self._conversation: asyncio.Task[None] | None = None
        self._interrupted = False
        self._notes: list[asyncio.Task[None]] = []
        """Record notes written as the call goes (recording failures)."""
        self._details = dict(bridge.info.extra)
        """What the record's details start with: the transport's, and notes from before it."""
        self._recorded = False
        self._prompts: RecordedPrompts | None = None
        """The recorded prompts of the design the call runs on (``_recorded_prompts``)."""

    @property
    def recognising(self) -> bool:
        """A recognition started during the hangover is still running (a virtual-clock line
        waits for it, as it waits for any engine)."""
        return self.listener.recognising

    async def run(self) -> Outcome:
        """Serve the call until either side ends it; returns the outcome written to the record."""
        info = self.bridge.info
        recording = self._open_recording()
        await self.services.records.start_call(
            self.call_id,
            info.transport,
            info.caller,
            info.called,
            recording=str(recording or ""),
            details=self._details,
            peer_call_id=self.peer_call_id,
        )
        self._recorded = True
        self.services.metrics.call_started(info.transport)
        log.info(
            "call.start",
            extra=fields(
                call_id=self.call_id, peer_call_id=self.peer_call_id, transport=info.transport
            ),
        )
        pump = asyncio.create_task(self._pump(), name=f"pump-{self.call_id}")
        self._conversation = asyncio.create_task(self._converse(), name=f"call-{self.call_id}")
        try:
            await asyncio.wait_for(self._conversation, self.config.call.max_call_s)
        except asyncio.TimeoutError:
            self._finish("self_served", "maximum call length reached")
            await self.bridge.hangup("max_call_length")
        except asyncio.CancelledError:
            if not self._interrupted:
                raise  # the session itself is being cancelled
            log.warning("call.interrupted", extra=fields(call_id=self.call_id, reason=self.reason))
            await self._hand_over(self.reason)
        except DependencyError as exc:
            await self._fail_over(str(exc))
        except Exception as exc:  # a bug must end this call only, never the server
            log.exception("call.error", extra=fields(call_id=self.call_id))
            await self._fail_over(f"internal error: {exc}")
        finally:
            pump.cancel()
            await self._stop_speaking()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await self._close()
        return self.outcome

    def interrupt(self, reason: str) -> None:
        """End the call now, apologising and handing the caller to an agent: the server is
        stopping. The record says ``interrupted`` with ``reason``."""
        conversation = self._conversation
        if conversation is None or conversation.done() or self._bot_ended or self._hung_up:
            return  # not started, or already ending on its own
        self._finish("interrupted", reason)
        self._interrupted = True
        conversation.cancel()

    # ---- the conversation ------------------------------------------------------------------

    async def _converse(self) -> None:
        try:
            await self.listener.start(self.services.asr)
        except Exception as exc:
            raise DependencyError(f"speech recognition failed: {exc}") from exc
        started = self._loop.time()
        # Who is calling, as the transport saw it: the actions' per-caller limits key on it.
        metadata = {**self._metadata(), IDENTITY_KEY: self.bridge.info.identity}
        greeting = await self._ask(lambda d: d.begin(self.call_id, metadata))
        record = TurnRecord(self.call_id, 0, time.time(), "start")
        record.dialogue_ms = _ms(self._loop.time() - started)
        await self._turn_done(record, greeting, None)
        while not self._hung_up and not self._bot_ended:
            item = await self._next_input()
            if isinstance(item, _Gone):
                self._caller_gone(item)
                return
            if isinstance(item, _Broken):
                raise DependencyError(item.reason)
            record, reply = await self._handle(item)
            if reply is None:
                self._listen()
                continue
            await self._turn_done(record, reply, item)

    async def _next_input(self) -> _Input:
        """Wait for the caller, waking up for the keypad's inter-digit timeout."""
        while True:
            timeout = self._collector.spec.timeout_s if self._collector.active else None
            try:
                return await asyncio.wait_for(self._inputs.get(), timeout)
            except asyncio.TimeoutError:
                digits = self._collector.expired(self._loop.time())
                if digits:
                    return _Digits(digits, self._loop.time())

    async def _handle(self, item: _Input) -> tuple[TurnRecord, Reply | None]:
        self.turns += 1
        record = TurnRecord(self.call_id, self.turns, time.time(), "no_input")
        record.barged_in = self._barged_in
        self._barged_in = False
        secure = self._secure
        identifier = self._asks_for_identifier
        if isinstance(item, Utterance):
            transcript = await self._transcribe(item, record)
            redaction = redact_secrets(transcript.text, identifier=identifier)
            self.listener.release(item, redact=secure or redaction.secret)
            if not transcript.text.strip():
                self.turns -= 1
                return record, None
            record.input_kind = "secure_speech" if secure else "speech"
            text = transcript.text
            if not secure:
                record.transcript = redaction.text
                log.info(
                    "asr.final",
                    extra=fields(
                        call_id=self.call_id,
                        text=redaction.text,
                        conf=transcript.confidence,
                        redacted=redaction.secret,
                    ),
                )
            metadata = {**self._metadata(), ASR_CONFIDENCE_KEY: transcript.confidence}
            if transcript.alternatives:  # the dialogue client sends none at a PIN prompt
                metadata[ASR_ALTERNATIVES_KEY] = list(transcript.alternatives)
            request: DialogueRequest = lambda d: d.send(self.call_id, text, metadata)  # noqa: E731
        elif isinstance(item, _Digits):
            record.input_kind = "secure_dtmf" if secure else "dtmf"
            if not secure:
                record.transcript = redact_secrets(item.digits, identifier=identifier).text
            digits = item.digits
            request = lambda d: d.send_digits(self.call_id, digits, secure=secure)  # noqa: E731
        else:
            request = lambda d: d.no_input(self.call_id)  # noqa: E731
        asked = self._loop.time()
        reply = await self._ask(request)
        record.dialogue_ms = _ms(self._loop.time() - asked)
        return record, reply

    async def _transcribe(self, item: Utterance, record: TurnRecord) -> Transcript:
        record.endpoint_ms = _ms(item.closed - item.speech_end)
        try:
            transcript = await self.listener.transcribe(item)
        except Exception as exc:
            raise DependencyError(f"speech recognition failed: {exc}") from exc
        record.asr_ms = _ms(self._loop.time() - item.closed)
        record.asr_confidence = transcript.confidence
        self.services.metrics.observe("asr", record.asr_ms / 1000)
        return transcript

    async def _ask(self, request: DialogueRequest) -> Reply:
        """One request to the assistant; any failure becomes a DependencyError."""
        try:
            return await request(self.services.dialogue)
        except Exception as exc:
            raise DependencyError(f"dialogue failed: {exc}") from exc

    async def _turn_done(self, record: TurnRecord, reply: Reply, item: _Input | None) -> None:
        """Apply the reply's voice instructions, speak it, record the turn."""
        replied = self._loop.time()
        record.intent = reply.intent
        record.intent_confidence = reply.confidence
        record.entities = [] if record.input_kind.startswith("secure") else list(reply.entities)
        record.payloads = [m.payload for m in reply.messages if m.payload]
        self._secure = False
        self._prepare_for(reply)
        # A reply asking for (the rest of) an account number may read back the part it has.
        record.bot_text = redact_secrets(reply.text, identifier=self._asks_for_identifier).text
        first_audio = await self._speak(reply.messages)
        if first_audio is not None:
            record.tts_first_ms = _ms(first_audio - replied)
            if isinstance(item, Utterance):
                record.response_ms = _ms(first_audio - item.speech_end)
                self.services.metrics.observe("turn", record.response_ms / 1000)
        await self.services.records.add_turn(record)
        self.services.metrics.turn_done(self.bridge.info.transport)
        if self._hung_up:
            return  # gone mid-reply: nobody to hand off or hang up on
        await self._act_on(reply)
        if not self._bot_ended and not self._hung_up:
            self._listen()
            self.services.metrics.observe("dialogue", (record.dialogue_ms or 0) / 1000)

    @property
    def _asks_for_identifier(self) -> bool:
        """The bot's last reply asked for an account number or the rest of one."""
        return self._expect is not None and self._expect.identifier

    def _prepare_for(self, reply: Reply) -> None:
        """Before speaking: set up keypad collection and secure entry the reply asks for."""
        expect = reply.expect_digits
        self._expect = expect
        self._collector = DigitCollector(expect or FREE_ENTRY)
        self._secure = reply.secure_entry
        if self.recorder is not None:
            self.recorder.mute_caller(self._secure)
        # A reply without hints clears the last one's: "yes"/"no" must not bias the next question.
        self.listener.set_hints(reply.hints)
        self.listener.expect_digits(spoken_digits(expect))

    async def _act_on(self, reply: Reply) -> None:
        handoff, hangup = reply.handoff, reply.hangup
        if handoff is not None:
            await self._transfer(handoff.reason, {**handoff.context, "priority": handoff.priority})
        elif hangup is not None:
            self._finish("self_served", hangup.reason)
            await self.bridge.hangup(hangup.reason)

    async def _transfer(self, reason: str, context: dict[str, Any]) -> None:
        self._bot_ended = True
        target = self.config.call.agent_uri
        log.info("call.handoff", extra=fields(call_id=self.call_id, reason=reason, target=target))
        ok = await self.bridge.transfer(target, {"reason": reason, **context})
        if ok:
            self._finish("handed_off", reason)
        else:
            self._finish("failed", f"transfer to {target} failed ({reason})")
            await self.bridge.hangup("transfer_failed")

    # ---- speaking --------------------------------------------------------------------------

    async def _speak(self, messages: list[BotMessage]) -> float | None:
        """Speak the messages; returns the loop time the first audio was queued (None: none)."""
        self.listener.disarm_no_input()
        first: list[float] = []
        self._speaking = asyncio.create_task(self._say_all(messages, first))
        try:
            await self._speaking
        except asyncio.CancelledError:
            if not (self._barged_in or self._hung_up):
                raise  # the session itself is being cancelled
        finally:
            self._speaking = None
        return first[0] if first else None

    async def _say_all(self, messages: list[BotMessage], first: list[float]) -> None:
        """Speak each message in turn, each with its own barge-in rule.

        A message is played out before the next starts (so a non-interruptible one is heard
        whole), but the next message's first sentence is synthesised while this one plays:
        no silent gap between the messages of one reply. A message a designer recorded word
        for word plays the recording of the design the call runs on (``speak_stream``).
        """
        spoken = [m for m in messages if m.text]
        recorded = await self._recorded_prompts() if spoken else NO_RECORDINGS
        streams = [
            speak_stream(
                self.services.tts,
                recorded,
                str(m.text),
                self.rate,
                cache=m.cacheable,
                public=m.public,
            )
            for m in spoken
        ]
        ahead: asyncio.Task[SpeechChunk | None] | None = None
        try:
            for index, message in enumerate(spoken):
                self._interruptible = message.interruptible and self.config.call.barge_in
                stream = streams[index]
                chunk = await (ahead or _next_chunk(stream))
                while chunk is not None:
                    if not first:
                        first.append(self._loop.time())
                    await self.bridge.play(chunk.pcm)
                    chunk = await _next_chunk(stream)
                if index + 1 < len(streams):
                    ahead = asyncio.create_task(_next_chunk(streams[index + 1]))
                await self.bridge.wait_played()
        finally:
            if ahead is not None and not ahead.done():
                ahead.cancel()
                try:
                    await ahead
                except asyncio.CancelledError:
                    pass
                except DependencyError as exc:  # the message it was for is not spoken now
                    log.warning(
                        "tts.ahead_failed", extra=fields(call_id=self.call_id, error=str(exc))
                    )
            for stream in streams:
                await stream.aclose()
        self._interruptible = True

    async def _recorded_prompts(self) -> RecordedPrompts:
        """The recorded prompts of the design the call runs on, read at its first spoken
        reply: ``begin`` has given the call its version by then, and it keeps it to the end."""
        if self._prompts is None:
            self._prompts = await asyncio.to_thread(self.services.recorded_prompts, self.call_id)
        return self._prompts

    def _barge_in(self, why: str) -> None:
        if self._speaking is None or not self._interruptible or self._barged_in:
            return
        self._barged_in = True
        self.bridge.clear_audio()
        self._speaking.cancel()
        self.services.metrics.count("barge_in")
        log.info("call.barge_in", extra=fields(call_id=self.call_id, by=why))

    async def _stop_speaking(self) -> None:
        task = self._speaking
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("call.speaking_failed", extra=fields(call_id=self.call_id))

    def _listen(self) -> None:
        """Bot finished: re-arm the endpointer and its no-input timer for the caller's turn.

        While keypad digits are expected the caller gets at least the entry's own timeout.
        """
        if self.listener.in_speech or self._collector.active:
            return
        wait_ms = self.config.vad.no_input_ms
        if self._expect is not None:
            wait_ms = max(wait_ms, int(self._expect.timeout_s * 1000))
        self.listener.arm_no_input(wait_ms)

    # ---- the caller side -------------------------------------------------------------------

    async def _pump(self) -> None:
        """Move bridge events into the session: audio, keys, hang-up.

        If it fails the session could no longer hear the caller, so the call is failed over.
        """
        try:
            await self._move_events()
        except Exception as exc:
            log.exception("call.pump_failed", extra=fields(call_id=self.call_id))
            self._offer(_Broken(f"caller audio failed: {exc}"))

    async def _move_events(self) -> None:
        if self.listener.echo is not None:
            self.bridge.add_outbound_tap(self.listener.echo.far)
        if self.recorder is not None:
            self.bridge.add_outbound_tap(self.recorder.bot)
        while True:
            event = await self.bridge.receive()
            if isinstance(event, AudioIn):
                self.listener.hear(event.pcm)
            elif isinstance(event, DtmfIn):
                self._key(event.digit)
            elif isinstance(event, Hangup):
                self._hung_up = True
                self._gone = _Gone(event.reason, event.failed)
                self._offer(self._gone)
                if self._speaking is not None:
                    self._speaking.cancel()
                return

    def _key(self, digit: str) -> None:
        self._barge_in("dtmf")
        self.listener.disarm_no_input()
        entry = self._collector.press(digit, self._loop.time())
        if entry is not None:
            self._offer(_Digits(entry, self._loop.time()))

    def _offer(self, item: _Input) -> None:
        """Queue a caller input for the conversation, within ``MAX_PENDING_INPUTS``: when the
        queue is full a new utterance, entry or no-input is dropped, while the end of the call
        takes the place of the oldest one that may be dropped."""
        if self._inputs.full():
            if not isinstance(item, _Terminal):
                self._drop(item)
                return
            pending = [self._inputs.get_nowait() for _ in range(self._inputs.qsize())]
            oldest = next(i for i, p in enumerate(pending) if not isinstance(p, _Terminal))
            self._drop(pending.pop(oldest))
            for kept in pending:
                self._inputs.put_nowait(kept)
        self._inputs.put_nowait(item)

    def _drop(self, item: _Input) -> None:
        """An input the conversation will never see: counted, logged once per call, and an
        utterance's held audio written as silence (never transcribed, it may hold a secret)."""
        kind = type(item).__name__.strip("_").lower()
        if isinstance(item, Utterance):
            self.listener.release(item, redact=True)
        self.services.metrics.count("input_dropped", kind=kind)
        if not self._inputs_full_logged:
            self._inputs_full_logged = True
            log.warning(
                "call.inputs_full",
                extra=fields(call_id=self.call_id, pending=MAX_PENDING_INPUTS, dropped=kind),
            )

    # ---- ending ----------------------------------------------------------------------------

    def _caller_gone(self, gone: _Gone) -> None:
        if gone.failed:
            self._finish("failed", f"transport failure: {gone.reason}")
        else:
            self._finish("abandoned", f"caller hung up ({gone.reason})")

    def _finish(self, outcome: Outcome, reason: str) -> None:
        if self.outcome == "in_progress":
            self.outcome, self.reason = outcome, reason

    async def _fail_over(self, reason: str) -> None:
        """A dependency failed: apologise (if we still can), hand off, and say why in the record."""
        log.error("call.dependency_failed", extra=fields(call_id=self.call_id, reason=reason))
        self.services.metrics.count("error", kind=reason.split(":")[0])
        self._finish("failed", reason)
        await self._hand_over(reason)

    async def _hand_over(self, reason: str) -> None:
        """Apologise and pass the caller to an agent; without the apology if the voice fails,
        and hang up if the transfer fails (a caller is never left in silence)."""
        if self._hung_up:
            return
        try:
            async for chunk in synthesize_stream(  # the operator's text: the same for all
                self.services.tts, self.config.call.apology, self.rate, cache=True
            ):
                await self.bridge.play(chunk.pcm)
            await self.bridge.wait_played()
        except Exception:
            log.exception("call.apology_failed", extra=fields(call_id=self.call_id))
        target = self.config.call.agent_uri
        try:
            transferred = await self.bridge.transfer(target, {"reason": reason})
        except Exception:
            log.exception("call.handoff_failed", extra=fields(call_id=self.call_id, target=target))
            transferred = False
        if transferred:
            return
        log.error("call.handoff_refused", extra=fields(call_id=self.call_id, target=target))
        try:
            await self.bridge.hangup("failed")
        except Exception:
            log.exception("call.hangup_failed", extra=fields(call_id=self.call_id))

    async def _close(self) -> None:
        if self.outcome == "in_progress" and self._gone is not None:
            self._caller_gone(self._gone)  # gone while the bot spoke: the reason still counts
        if self.outcome == "in_progress":
            self._finish("abandoned", "call ended")
        await self.listener.close()
        if self.recorder is not None:
            self.recorder.close()
        try:
            await self.services.dialogue.end(self.call_id)
        except Exception as exc:  # a dialogue that failed has nothing left to drop
            log.warning("dialogue.end_failed", extra=fields(call_id=self.call_id, error=str(exc)))
        if self._notes:
            await asyncio.gather(*self._notes)
        await self.services.records.end_call(self.call_id, self.outcome, self.reason)
        self.services.metrics.call_ended(self.bridge.info.transport, self.outcome)
        log.info(
            "call.end",
            extra=fields(call_id=self.call_id, outcome=self.outcome, reason=self.reason),
        )

    def _open_recording(self) -> Path | None:
        folder = self.config.call.recordings_dir
        keyring = self.services.recording_keys
        if not folder or keyring is None:
            return None  # no key configured: recording is off, never plain
        path = Path(folder) / f"{time.strftime('%Y%m%d')}" / f"{self.call_id}{SUFFIX}"
        try:
            self.recorder = StereoRecorder(path, self.rate, keyring, self._recording_failed)
        except OSError as exc:
            self._recording_failed(exc)
            return None
        self.listener.record_to(self.recorder)
        return path

    def _recording_failed(self, exc: OSError) -> None:
        """The disk refused the recording (full, unwritable): the call goes on unrecorded, and
        its record says why."""
        log.error("recording.failed", extra=fields(call_id=self.call_id, error=str(exc)))
        self.services.metrics.count("error", kind="recording failed")
        note = f"recording stopped: {exc}"
        if not self._recorded:
            self._details["recording_error"] = note
            return
        self._notes.append(
            asyncio.create_task(self.services.records.note(self.call_id, "recording_error", note))
        )

    def _metadata(self) -> dict[str, Any]:
        info = self.bridge.info
        return {"call_id": self.call_id, "transport": info.transport, "channel": "voice"}


async def _next_chunk(stream: AsyncGenerator[SpeechChunk, None]) -> SpeechChunk | None:
    """The stream's next sentence of audio (None at its end); a TTS failure is a dependency's."""
    try:
        return await anext(stream, None)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise DependencyError(f"speech synthesis failed: {exc}") from exc


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
