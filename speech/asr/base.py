"""The ASR interface: feed PCM, get partial and final transcripts with confidence.

Engines are shared by every call (they hold the loaded model); a call opens its own stream.
Stream and engine methods block and burn CPU: the asyncio call path uses the ``*_async``
wrappers, which run them on the engine's thread pool so one call never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import ClassVar, TypeVar

from speech.audio import Audio, AudioError, frame_size, iter_frames
from speech.digits import DigitExpectation

T = TypeVar("T")

MAX_AUDIO_SECONDS = 300.0
"""Default longest audio one transcription accepts (an utterance, or a clip given to the CLI)."""


class AsrError(RuntimeError):
    """An engine cannot be created or run (model missing, unreadable, wrong kind)."""


@dataclass(frozen=True)
class Word:
    """One recognised word."""

    text: str
    """The word as the engine spelled it."""
    start: float
    """Seconds from the start of the utterance."""
    end: float
    """Seconds from the start of the utterance."""
    confidence: float
    """0..1, the engine's belief that this word is right."""


@dataclass(frozen=True)
class Transcript:
    """What the engine heard in one utterance so far (partial) or in all of it (final)."""

    text: str
    """Recognised text; empty when nothing was understood."""
    confidence: float
    """0..1 for the whole text (0 for an empty transcript)."""
    is_final: bool
    """False for a partial result that later audio may still change."""
    words: tuple[Word, ...] = ()
    """Per-word detail when the engine provides it."""
    duration: float = 0.0
    """Seconds of audio the transcript covers."""
    truncated: bool = False
    """True when audio beyond the engine's length limit was ignored."""
    alternatives: tuple[str, ...] = ()
    """Other readings of the same audio the engine found less likely, the likeliest first
    (whisper's beam); empty when it has none. The assistant reads them when it cannot
    understand ``text``."""


EMPTY_FINAL = Transcript(text="", confidence=0.0, is_final=True)


@dataclass(frozen=True)
class Vocabulary:
    """Domain language an engine is biased toward on every utterance."""

    prompt: str = ""
    """A short natural sentence of domain words (whisper ``initial_prompt``)."""
    terms: tuple[str, ...] = ()
    """Distinctive words and phrases, most frequent first."""
    phrases: tuple[str, ...] = ()
    """Normalised in-domain sentences (a vosk domain grammar when enabled)."""

    def __bool__(self) -> bool:
        return bool(self.prompt or self.terms or self.phrases)


def clean_hints(hints: Sequence[str]) -> tuple[str, ...]:
    """Strip, drop empties and duplicates, keep order."""
    seen: dict[str, None] = {}
    for hint in hints:
        text = " ".join(str(hint).split())
        if text:
            seen.setdefault(text, None)
    return tuple(seen)


class AsrStream(ABC):
    """One call's (or one utterance's) recognition state. Methods block; not thread-safe."""

    buffers_only: ClassVar[bool] = False
    """True when ``accept``, ``discard``, ``set_hints`` and ``set_digits`` only store data (an
    engine that recognises whole utterances): asyncio callers run them at once instead of
    queueing them on the thread pool behind other calls' recognitions."""

    def __init__(self, input_rate: int, hints: Sequence[str], max_seconds: float) -> None:
        if input_rate <= 0:
            raise AudioError(f"sample rate must be positive, got {input_rate}")
        self.input_rate = input_rate
        self.max_seconds = max_seconds
        self.hints: tuple[str, ...] = clean_hints(hints)
        self.digits: DigitExpectation | None = None
        """Set when the next utterance should answer with a digit string."""
        self._fed_bytes = 0
        self._truncated = False

    def set_hints(self, hints: Sequence[str]) -> None:
        """Phrases expected in the next utterance (a grammar or a bias, per engine)."""
        self.hints = clean_hints(hints)

    def set_digits(self, digits: DigitExpectation | None) -> None:
        """A digit string is expected from the next utterance on (None: any speech). Engines
        constrain or rescore recognition toward digits (a grammar, n-best of the right length)."""
        self.digits = digits

    def accept(self, pcm: bytes) -> Transcript | None:
        """Feed 16-bit mono PCM at ``input_rate``; returns a new partial when it changed.

        Audio past ``max_seconds`` in one utterance is ignored (the final is marked truncated),
        so a stuck endpointer or an endless file cannot make recognition unbounded.
        """
        if len(pcm) % 2:
            raise AudioError(f"PCM chunk of {len(pcm)} bytes is not whole 16-bit samples")
        limit = int(self.max_seconds * self.input_rate) * 2
        room = limit - self._fed_bytes
        if room <= 0:
            self._truncated = self._truncated or bool(pcm)
            return None
        if len(pcm) > room:
            pcm = pcm[:room]
            self._truncated = True
        self._fed_bytes += len(pcm)
        return self._accept(pcm)

    def finish(self) -> Transcript:
        """The final transcript of everything fed since the last finish; the stream is reusable."""
        try:
            result = self._finish()
        finally:
            truncated = self._truncated
            duration = self._fed_bytes / 2 / self.input_rate
            self._fed_bytes = 0
            self._truncated = False
        return replace(result, is_final=True, duration=duration, truncated=truncated)

    def preview(self) -> Transcript | None:
        """The final transcript of what was fed so far, without ending the utterance.

        For engines that only recognise once an utterance is closed: the caller can start the
        work while the endpointer is still waiting out the end-of-speech hangover, and keep
        the result if the caller does not speak again. None: the engine has nothing to gain
        (a streaming engine's ``finish`` is already cheap).
        """
        return None

    def discard(self) -> None:
        """End the utterance without recognising it (its transcript came from ``preview``)."""
        self._fed_bytes = 0
        self._truncated = False
        self._discard()

    def _discard(self) -> None:
        """Drop the utterance's state; engines with a cheaper way than finishing override it."""
        self._finish()

    @property
    def fed_seconds(self) -> float:
        """Audio accepted in the current utterance."""
        return self._fed_bytes / 2 / self.input_rate

    @abstractmethod
    def _accept(self, pcm: bytes) -> Transcript | None: ...

    @abstractmethod
    def _finish(self) -> Transcript: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release per-stream resources (the shared model stays loaded)."""


class AsrEngine(ABC):
    """A loaded recogniser shared by all calls."""

    name: str = "asr"

    def __init__(self, max_seconds: float = MAX_AUDIO_SECONDS, max_concurrent: int = 2) -> None:
        if max_seconds <= 0:
            raise ValueError("max_seconds must be positive")
        self.max_seconds = max_seconds
        self.max_concurrent = max(1, max_concurrent)
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()

    def load(self) -> None:  # noqa: B027 - engines without a model have nothing to load
        """Load the model now rather than on the first utterance (once per process)."""

    @abstractmethod
    def open_stream(self, input_rate: int, hints: Sequence[str] = ()) -> AsrStream:
        """A new stream for one call; ``hints`` apply to its first utterance."""

    def transcribe(
        self, audio: Audio, hints: Sequence[str] = (), digits: DigitExpectation | None = None
    ) -> Transcript:
        """Recognise a whole clip; refuses clips longer than ``max_seconds``. ``digits``: the
        clip answers a request for that many digits (see ``AsrStream.set_digits``)."""
        self.check_length(audio)
        stream = self.open_stream(audio.rate, hints)
        try:
            stream.set_digits(digits)
            for frame in iter_frames(audio.pcm, audio.rate, 100, pad=False):
                stream.accept(frame)
            tail = len(audio.pcm) % frame_size(audio.rate, 100)
            if tail:
                stream.accept(audio.pcm[-tail:])
            return stream.finish()
        finally:
            stream.close()

    def check_length(self, audio: Audio) -> None:
        if audio.rate <= 0:
            raise AudioError(f"sample rate must be positive, got {audio.rate}")
        if audio.duration > self.max_seconds:
            raise AudioError(
                f"audio is {audio.duration:.0f} s long; the {self.name} engine transcribes at "
                f"most {self.max_seconds:.0f} s at a time (cut it into utterances first)"
            )

    @property
    def executor(self) -> ThreadPoolExecutor:
        """The thread pool that runs this engine's CPU work for asyncio callers."""
        with self._executor_lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.max_concurrent, thread_name_prefix=f"asr-{self.name}"
                )
            return self._executor

    async def transcribe_async(
        self, audio: Audio, hints: Sequence[str] = (), digits: DigitExpectation | None = None
    ) -> Transcript:
        """``transcribe`` on the engine's thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, self.transcribe, audio, tuple(hints), digits
        )

    async def open_stream_async(self, input_rate: int, hints: Sequence[str] = ()) -> AsyncAsrStream:
        """``open_stream`` for asyncio callers (opening may build a grammar: off the loop)."""
        loop = asyncio.get_running_loop()
        stream = await loop.run_in_executor(
            self.executor, self.open_stream, input_rate, tuple(hints)
        )
        return AsyncAsrStream(stream, self.executor)

    def shutdown(self) -> None:
        """Stop the thread pool (waits for running work)."""
        with self._executor_lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


@dataclass
class AsyncAsrStream:
    """An ``AsrStream`` driven from asyncio: calls run in order, one at a time, on the pool
    (or on the loop when the stream says they only store data)."""

    stream: AsrStream
    executor: ThreadPoolExecutor
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def feed(self, pcm: bytes) -> Transcript | None:
        return await self._run(self.stream.accept, pcm, cheap=self.stream.buffers_only)

    async def finish(self) -> Transcript:
        return await self._run(self.stream.finish)

    async def preview(self) -> Transcript | None:
        return await self._run(self.stream.preview)

    async def discard(self) -> None:
        await self._run(self.stream.discard, cheap=self.stream.buffers_only)

    async def set_hints(self, hints: Sequence[str]) -> None:
        await self._run(self.stream.set_hints, tuple(hints), cheap=self.stream.buffers_only)

    async def set_digits(self, digits: DigitExpectation | None) -> None:
        await self._run(self.stream.set_digits, digits, cheap=self.stream.buffers_only)

    async def close(self) -> None:
        await self._run(self.stream.close)

    async def _run(self, func: Callable[..., T], *args: object, cheap: bool = False) -> T:
        async with self._lock:
            if cheap:
                return func(*args)
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.executor, func, *args)
