"""The endpointer: webrtcvad frame decisions become speech-start, utterance-end, no-input events.

Times are milliseconds of audio fed since ``arm()`` (a sample clock, not the wall clock), so the
same audio always gives the same events, in tests and in replays alike.

Speech starts when at least ``START_RATIO`` of the frames in a ``speech_start_ms`` window are
voiced; the reported start is the first voiced frame of that window. Speech ends after
``end_of_speech_ms`` in which at most ``END_RATIO`` of frames are voiced; the reported end is the
end of the last run of two or more voiced frames, so an isolated noise click does not move it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import webrtcvad

from speech.audio import frame_size, rms_dbfs
from speech.settings import VadConfig

VAD_RATES = (8000, 16000, 32000, 48000)
START_RATIO = 0.8
END_RATIO = 0.1
ENERGY_FLOOR_DBFS = -55.0
"""Frames quieter than this are never speech (webrtcvad can flag faint line hiss)."""
SNR_MARGIN_DB = 6.0
"""Before speech, a voiced frame must also stand this far above the tracked noise floor."""
SNR_HOLD_MARGIN_DB = 2.5
"""Within speech the margin is lower (hysteresis), so soft word endings are not cut."""
NOISE_FALL = 0.3
"""Share of a quieter frame's level taken into the noise floor at once (fast fall)."""
NOISE_RISE_DB = 0.1
"""Per-frame rise of the noise floor on non-speech frames (5 dB/s at 20 ms)."""
NOISE_CREEP_DB = 0.02
"""Per-frame rise on speech frames too, so a new loud noise cannot hold speech open for ever."""
TAIL_MS = 150
"""Audio kept after the last voiced frame: recognisers do better with a little trailing silence."""


@dataclass(frozen=True)
class SpeechStarted:
    """The caller began speaking at ``start_ms``; confirmed at ``at_ms``."""

    start_ms: int
    at_ms: int
    audio: bytes = b""
    """Audio from the pre-roll up to confirmation, for a recogniser that streams."""


@dataclass(frozen=True)
class UtteranceEnded:
    """An utterance is complete: its audio (with pre-roll and a short tail) and its bounds."""

    start_ms: int
    end_ms: int
    at_ms: int
    reason: Literal["silence", "max_length"]
    audio: bytes


@dataclass(frozen=True)
class NoInput:
    """Nothing was said for ``no_input_ms`` after arming."""

    at_ms: int


EndpointEvent = SpeechStarted | UtteranceEnded | NoInput


class Endpointer:
    """Feeds PCM of any chunk size; returns the events each chunk completes."""

    def __init__(self, config: VadConfig, rate: int) -> None:
        if rate not in VAD_RATES:
            raise ValueError(f"webrtcvad needs 8, 16, 32 or 48 kHz audio, not {rate} Hz")
        self.config = config
        self.rate = rate
        self._vad = webrtcvad.Vad(config.aggressiveness)
        self._frame_ms = config.frame_ms
        self._frame_bytes = frame_size(rate, self._frame_ms)
        self._start_frames = max(1, round(config.speech_start_ms / self._frame_ms))
        self._end_frames = max(2, round(config.end_of_speech_ms / self._frame_ms))
        self._pre_roll_frames = max(0, round(config.pre_roll_ms / self._frame_ms))
        self._tail_frames = round(TAIL_MS / self._frame_ms)
        self._pending = b""
        self._noise_db: float | None = None
        self.arm()

    @property
    def in_speech(self) -> bool:
        return self._speaking

    @property
    def trailing_silence_ms(self) -> int:
        """How long the caller has been quiet within the current utterance (0 outside one)."""
        return self._clock_ms - self._last_voiced_end if self._speaking else 0

    @property
    def speech_end_ms(self) -> int:
        """End of the current utterance's last voiced frame (``UtteranceEnded.end_ms`` if the
        caller says nothing more)."""
        return self._last_voiced_end

    def arm(self, no_input: bool = True, no_input_ms: int | None = None) -> None:
        """Listen afresh: clear state, restart the clock and (optionally) the no-input timer."""
        self._no_input_ms = self.config.no_input_ms if no_input_ms is None else no_input_ms
        self._clock_ms = 0
        self._speaking = False
        self._no_input_armed = no_input
        self._history: deque[tuple[bytes, int, bool, bool]] = deque(
            maxlen=2 * self._pre_roll_frames + self._start_frames
        )
        self._entered: deque[bool] = deque(maxlen=self._start_frames)
        """The entry flags of the newest ``speech_start_ms`` of ``_history``, counted per frame."""
        self._trail: deque[bool] = deque(maxlen=self._end_frames)
        self._frames: list[bytes] = []
        self._start_ms = 0
        self._last_voiced_end = 0
        self._prev_voiced = False
        self._frames_at_last_voiced = 0

    def disarm_no_input(self) -> None:
        """Stop the no-input timer (e.g. while the caller types digits)."""
        self._no_input_armed = False

    def feed(self, pcm: bytes) -> list[EndpointEvent]:
        data = self._pending + pcm
        events: list[EndpointEvent] = []
        usable = len(data) - len(data) % self._frame_bytes
        for offset in range(0, usable, self._frame_bytes):
            event = self._frame(data[offset : offset + self._frame_bytes])
            if event is not None:
                events.append(event)
        self._pending = data[usable:]
        return events

    def _classify(self, frame: bytes) -> tuple[bool, bool]:
        """(voiced at the entry margin, voiced at the hold margin), updating the noise floor."""
        level = max(rms_dbfs(frame), -90.0)
        noise = level if self._noise_db is None else self._noise_db
        loud_enough = level >= ENERGY_FLOOR_DBFS and level >= noise + SNR_HOLD_MARGIN_DB
        held = loud_enough and bool(self._vad.is_speech(frame, self.rate))
        entered = held and level >= noise + SNR_MARGIN_DB
        if level < noise:
            noise += NOISE_FALL * (level - noise)
        else:
            voiced = held if self._speaking else entered
            noise = min(level, noise + (NOISE_CREEP_DB if voiced else NOISE_RISE_DB))
        self._noise_db = noise
        return entered, held

    def _frame(self, frame: bytes) -> EndpointEvent | None:
        start = self._clock_ms
        self._clock_ms += self._frame_ms
        entered, held = self._classify(frame)
        if self._speaking:
            return self._frame_in_speech(frame, held)
        return self._frame_before_speech(frame, entered, held, start)

    def _frame_before_speech(
        self, frame: bytes, entered: bool, held: bool, start: int
    ) -> EndpointEvent | None:
        self._history.append((frame, start, entered, held))
        self._entered.append(entered)
        if sum(self._entered) >= math.ceil(START_RATIO * self._start_frames):
            window = list(self._history)[-self._start_frames :]
            onset_index = len(self._history) - len(window)
            onset_index += next(i for i, (_, _, e, _) in enumerate(window) if e)
            while onset_index > 0 and self._history[onset_index - 1][3]:
                onset_index -= 1
            onset = self._history[onset_index][1]
            self._speaking = True
            self._start_ms = onset
            first_kept = max(0, onset_index - self._pre_roll_frames)
            self._frames = [f for f, _, _, _ in list(self._history)[first_kept:]]
            self._last_voiced_end = self._clock_ms
            self._frames_at_last_voiced = len(self._frames)
            self._prev_voiced = held
            self._trail.clear()
            return SpeechStarted(start_ms=onset, at_ms=self._clock_ms, audio=b"".join(self._frames))
        if self._no_input_armed and self._clock_ms >= self._no_input_ms:
            self._no_input_armed = False
            return NoInput(at_ms=self._clock_ms)
        return None

    def _frame_in_speech(self, frame: bytes, voiced: bool) -> EndpointEvent | None:
        self._frames.append(frame)
        self._trail.append(voiced)
        if voiced and self._prev_voiced:
            self._last_voiced_end = self._clock_ms
            self._frames_at_last_voiced = len(self._frames)
        self._prev_voiced = voiced
        if self._clock_ms - self._start_ms >= self.config.max_utterance_ms:
            return self._close("max_length", end_ms=self._clock_ms, keep=len(self._frames))
        trail_full = len(self._trail) == self._end_frames
        if trail_full and sum(self._trail) <= END_RATIO * self._end_frames:
            return self._close_at_last_voice()
        return None

    def close_early(self) -> UtteranceEnded | None:
        """End the current utterance now, before its hangover has run out: the session has
        decided the turn is over (its transcript reads as finished). None outside an utterance."""
        return self._close_at_last_voice() if self._speaking else None

    def _close_at_last_voice(self) -> UtteranceEnded:
        keep = min(len(self._frames), self._frames_at_last_voiced + self._tail_frames)
        return self._close("silence", end_ms=self._last_voiced_end, keep=keep)

    def _close(
        self, reason: Literal["silence", "max_length"], end_ms: int, keep: int
    ) -> UtteranceEnded:
        event = UtteranceEnded(
            start_ms=self._start_ms,
            end_ms=end_ms,
            at_ms=self._clock_ms,
            reason=reason,
            audio=b"".join(self._frames[:keep]),
        )
        clock = self._clock_ms
        self.arm(no_input=False)
        self._clock_ms = clock
        return event
