"""The TTS engine interface and the sentence-by-sentence streaming that the call path uses.

An engine turns already-normalised text into 16-bit mono PCM at its voice's native rate,
sentence by sentence (blocking). ``synthesize_stream`` is the async front door: it normalises
and splits the text, synthesises each sentence in a thread pool (never on the event loop),
resamples to the requested rate and yields one ``SpeechChunk`` per sentence, so the first
sentence can be played while the next one is being synthesised.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from speech.audio import Audio
from speech.resample import resample
from speech.tts.normalize import normalize_text
from speech.tts.sentences import split_sentences

MAX_TEXT_CHARS = 20_000
"""Longest text accepted in one request; a bot reply is far shorter."""

_WORDY = re.compile(r"\w")
_DIGIT_WORD = r"(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|double|triple)"
_DYNAMIC = re.compile(
    r"\d{2,}|[$€£¢]|[*xX•#]{2,}\s?\d"  # figures, money, masked numbers
    r"|\d[\s,.-]+\d"  # digits read one by one: "5 5 5 0", "ending 1, 2"
    rf"|\b{_DIGIT_WORD}[\s,-]+{_DIGIT_WORD}\b"  # the same in words: "five five"
    r"|\b(?:dollars?|cents?|bucks|euros?|pounds)\b"  # amounts in words
    r"|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d"  # dates
    r"|\b\d(?:st|nd|rd|th)\b",
    re.IGNORECASE,
)


class TtsError(RuntimeError):
    """An engine could not be loaded or failed to synthesise."""


@dataclass(frozen=True)
class Sentence:
    """One sentence of a reply: as written, and as it will be spoken."""

    text: str
    """The sentence as written (captions, logs, cache policy)."""
    spoken: str
    """The normalised words handed to the engine."""


@dataclass(frozen=True)
class SpeechChunk:
    """One sentence of synthesised speech, ready to be framed and sent."""

    pcm: bytes
    """Signed 16-bit little-endian mono PCM."""
    rate: int
    """Sample rate of ``pcm`` in Hz (the rate that was requested)."""
    text: str
    """The sentence as written."""
    index: int
    """Position of the sentence in the reply, from 0."""

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / self.rate

    @property
    def audio(self) -> Audio:
        return Audio.from_pcm(self.pcm, self.rate)


class TtsEngine(ABC):
    """A voice: normalised text in, 16-bit mono PCM at ``native_rate`` out, sentence by sentence."""

    name: str
    """Engine name as in the configuration: ``piper`` or ``pyttsx3``."""
    voice: str
    """The voice's identifier (piper model name, espeak-ng voice id)."""
    native_rate: int
    """Sample rate the voice produces."""
    speaking_rate: float
    """Pace relative to the voice's natural pace (1.2 is 20% faster)."""

    @property
    def revision(self) -> str:
        """Anything besides name and voice that changes the audio (model file version)."""
        return ""

    @abstractmethod
    def synthesize(self, text: str) -> Iterator[Audio]:
        """Synthesise normalised ``text``, yielding one clip per sentence at ``native_rate``.

        Blocking and CPU-bound: call it from a worker thread on the call path.
        """

    def render(self, text: str, rate: int, *, cacheable: bool = True) -> Audio:
        """Synthesise normalised ``text`` as one clip at ``rate`` (blocking).

        ``cacheable`` is a hint for caching wrappers: False means the text may carry caller data
        and must not be kept on disk. Plain engines ignore it.
        """
        if rate <= 0:
            raise ValueError(f"sample rate must be positive, got {rate}")
        parts: list[np.ndarray] = []
        for clip in self.synthesize(text):
            samples = clip.samples
            if clip.rate != self.native_rate:
                samples = resample(samples, clip.rate, self.native_rate)
            parts.append(samples)
        samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
        return Audio(resample(samples.astype(np.int16, copy=False), self.native_rate, rate), rate)

    def warm_up(self) -> None:
        """Run one short synthesis so the first real request does not pay one-off start-up costs."""
        self.render("Hello.", self.native_rate, cacheable=False)

    def describe(self) -> str:
        rate = f"{self.speaking_rate:g}"
        return f"{self.name} {self.voice} ({self.native_rate} Hz, speaking rate {rate})"


def plan_speech(text: str) -> list[Sentence]:
    """Split ``text`` into sentences and normalise each, dropping those with nothing to say."""
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"text of {len(text)} characters is longer than {MAX_TEXT_CHARS}")
    plan = []
    for written in split_sentences(text):
        spoken = normalize_text(written)
        if _WORDY.search(spoken):
            plan.append(Sentence(written, spoken))
    return plan


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def tts_executor() -> ThreadPoolExecutor:
    """The process's thread pool for synthesis, sized to the machine's cores."""
    global _executor
    with _executor_lock:
        if _executor is None:
            workers = max(2, min(8, os.cpu_count() or 2))
            _executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tts")
        return _executor


def is_fixed_prompt(text: str) -> bool:
    """Whether a sentence looks like a fixed prompt, safe and worth keeping in the prompt cache.

    Sentences with money, masked numbers, any run of two or more digits (balances, dates,
    account digits, reference numbers), digits read out one by one in numerals or words
    ("ending 5 9 2 6", "five five"), amounts in words or a date are per-caller data: caching
    them would fill the disk with one-off audio and keep a caller's figures at rest. Single
    digits ("press 1 or 2") are fine. This is the second line of defence: a name has no digits,
    so only text its speaker vouches for (``cache=True`` in ``synthesize_stream``) is
    considered at all.
    """
    return not _DYNAMIC.search(text)


def should_cache(sentence: Sentence, cache: bool, public: bool) -> bool:
    """Whether this sentence of a message goes to the prompt cache (see ``synthesize_stream``)."""
    return cache and (public or is_fixed_prompt(sentence.text))


async def synthesize_stream(
    engine: TtsEngine,
    text: str,
    rate: int,
    *,
    cache: bool = False,
    public: bool = False,
    executor: Executor | None = None,
) -> AsyncGenerator[SpeechChunk, None]:
    """Yield ``text`` as speech at ``rate``, one chunk per sentence, as soon as each is ready.

    Synthesis runs in ``executor`` (default: the shared TTS pool); while the caller consumes one
    chunk, the next sentence is already being synthesised. Closing the iterator early (barge-in)
    cancels the look-ahead if it has not started.

    Nothing is cached unless ``cache`` says the text is the same for every caller: written by
    the operator or the dialogue designer with nothing filled in (a name has no digits, so no
    look at the text itself can tell). Even then only sentences that look fixed (see
    ``is_fixed_prompt``) are cached, or every sentence when ``public`` says the text is
    published information (fees, branch hours) whose figures are no caller's data.
    """
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    plan = plan_speech(text)
    if not plan:
        return
    loop = asyncio.get_running_loop()
    pool = executor or tts_executor()

    def schedule(sentence: Sentence) -> asyncio.Future[Audio]:
        return loop.run_in_executor(
            pool,
            lambda: engine.render(
                sentence.spoken, rate, cacheable=should_cache(sentence, cache, public)
            ),
        )

    pending: asyncio.Future[Audio] | None = schedule(plan[0])
    try:
        for index, sentence in enumerate(plan):
            assert pending is not None
            audio = await pending
            pending = schedule(plan[index + 1]) if index + 1 < len(plan) else None
            if len(audio.samples):
                yield SpeechChunk(audio.pcm, rate, sentence.text, index)
    finally:
        if pending is not None:
            pending.cancel()
            # A look-ahead that already failed: mark its error as seen, nobody wants it now.
            if pending.done() and not pending.cancelled():
                pending.exception()


def synthesize_text(
    engine: TtsEngine, text: str, rate: int, *, cache: bool = True
) -> Iterator[SpeechChunk]:
    """Blocking twin of ``synthesize_stream`` for tools (CLI, benchmarks)."""
    for index, sentence in enumerate(plan_speech(text)):
        audio = engine.render(
            sentence.spoken, rate, cacheable=should_cache(sentence, cache, public=False)
        )
        if len(audio.samples):
            yield SpeechChunk(audio.pcm, rate, sentence.text, index)


def join_chunks(chunks: list[SpeechChunk], rate: int) -> Audio:
    """Concatenate sentence chunks into one clip."""
    pcm = b"".join(chunk.pcm for chunk in chunks)
    return Audio.from_pcm(pcm, rate)


@dataclass(frozen=True)
class TtsTiming:
    """How fast an engine spoke one text: what a latency benchmark reports."""

    engine: str
    voice: str
    rate: int
    chars: int
    sentences: int
    first_audio_s: float
    """Time from request to the first sentence's audio (time to first audio)."""
    total_s: float
    """Time to synthesise everything."""
    audio_s: float
    """Duration of the speech produced."""

    @property
    def rtf(self) -> float:
        """Real-time factor: synthesis time over speech duration (< 1: faster than real time)."""
        return self.total_s / self.audio_s if self.audio_s else float("inf")


async def measure_stream(
    engine: TtsEngine, text: str, rate: int, *, cache: bool = False
) -> TtsTiming:
    """Synthesise ``text`` through ``synthesize_stream`` and time it, consuming chunks at once."""
    start = time.perf_counter()
    first: float | None = None
    audio_s = 0.0
    count = 0
    async for chunk in synthesize_stream(engine, text, rate, cache=cache):
        if first is None:
            first = time.perf_counter() - start
        audio_s += chunk.duration
        count += 1
    total = time.perf_counter() - start
    return TtsTiming(
        engine.name,
        engine.voice,
        rate,
        len(text),
        count,
        first if first is not None else total,
        total,
        audio_s,
    )
