"""Async sentence streaming: first audio after the first sentence, off the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from speech.audio import Audio, rms_dbfs
from speech.tts import CachedTts, PromptCache, measure_stream, synthesize_stream
from speech.tts.base import TtsError
from speech.tts.espeak import Pyttsx3Tts
from speech.tts.piper import PiperTts

THREE = (
    "Thank you for calling First Bank. "
    "Your card ending in 4321 is active and ready to use. "
    "Is there anything else I can help you with today?"
)

pytestmark = pytest.mark.slow


class RecordingPiper(PiperTts):
    """The real piper voice, recording when each sentence's synthesis starts and ends."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, str]] = []
        self.threads: set[int] = set()
        self._lock = threading.Lock()

    def render(self, text: str, rate: int, *, cacheable: bool = True) -> Audio:
        with self._lock:
            self.events.append(("start", text))
            self.threads.add(threading.get_ident())
        audio = super().render(text, rate, cacheable=cacheable)
        with self._lock:
            self.events.append(("end", text))
        return audio

    def started(self) -> int:
        with self._lock:
            return sum(1 for kind, _ in self.events if kind == "start")


@pytest.fixture
def recording(piper_engine: PiperTts) -> RecordingPiper:
    return RecordingPiper()


async def test_first_sentence_arrives_before_the_rest_is_synthesised(
    recording: RecordingPiper,
) -> None:
    start = time.perf_counter()
    chunks = []
    started_at_first_chunk = None
    first_at = None
    async for chunk in synthesize_stream(recording, THREE, 8000, cache=False):
        if first_at is None:
            first_at = time.perf_counter() - start
            started_at_first_chunk = recording.started()
        chunks.append(chunk)
    total = time.perf_counter() - start

    assert [c.index for c in chunks] == [0, 1, 2]
    assert chunks[1].text == "Your card ending in 4321 is active and ready to use."
    # When the first sentence was delivered, at most the next one (look-ahead) had started:
    # the third sentence was certainly not synthesised yet.
    assert started_at_first_chunk is not None and started_at_first_chunk <= 2
    assert first_at is not None and first_at < total
    assert all(c.rate == 8000 and rms_dbfs(c.pcm) > -35.0 for c in chunks)


async def test_closing_the_stream_early_stops_further_synthesis(recording: RecordingPiper) -> None:
    stream = synthesize_stream(recording, THREE, 16000, cache=False)
    first = await stream.__anext__()
    assert first.index == 0
    await stream.aclose()  # barge-in: the caller interrupted the bot
    await asyncio.sleep(1.0)  # let a running look-ahead finish
    rendered = [text for kind, text in recording.events if kind == "start"]
    assert len(rendered) <= 2
    assert not any("anything else" in text for text in rendered)


async def test_synthesis_runs_on_worker_threads_not_the_event_loop(
    recording: RecordingPiper,
) -> None:
    loop_thread = threading.get_ident()
    async for _ in synthesize_stream(recording, THREE, 8000, cache=False):
        pass
    assert recording.threads and loop_thread not in recording.threads


async def test_event_loop_keeps_ticking_during_synthesis(piper_engine: PiperTts) -> None:
    long_sentence = (
        "Please have your card and your account statement ready, and remember that we will "
        "never ask you for your full PIN, your password, or a one time passcode by phone."
    )
    blocking_start = time.perf_counter()
    piper_engine.render(long_sentence, 8000, cacheable=False)
    blocking = time.perf_counter() - blocking_start

    gaps: list[float] = []
    done = False

    async def ticker() -> None:
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    async for _ in synthesize_stream(piper_engine, f"{long_sentence} {long_sentence}", 8000):
        pass
    done = True
    await task
    # Had synthesis run on the loop, one gap would last a whole sentence's synthesis.
    assert len(gaps) > 10
    assert max(gaps) < blocking / 2


async def test_stream_of_empty_or_unspeakable_text_yields_nothing(piper_engine: PiperTts) -> None:
    assert [c async for c in synthesize_stream(piper_engine, "   ", 8000)] == []
    assert [c async for c in synthesize_stream(piper_engine, "...", 8000)] == []


async def test_stream_rejects_a_nonsense_rate(piper_engine: PiperTts) -> None:
    with pytest.raises(ValueError, match="positive"):
        async for _ in synthesize_stream(piper_engine, "Hello.", 0):
            pass


async def test_stream_caches_fixed_sentences_but_not_caller_data(espeak_engine, tmp_path) -> None:
    cache = PromptCache(tmp_path)
    engine = CachedTts(espeak_engine, cache)
    text = "Welcome to First Bank. Your balance is $1,200.50. Press 1 for more."
    chunks = [c async for c in synthesize_stream(engine, text, 8000, cache=True)]
    assert len(chunks) == 3
    assert cache.stats.writes == 2  # the balance sentence is not written to disk
    assert len(list(cache.entries())) == 2

    again = [c async for c in synthesize_stream(engine, text, 8000, cache=True)]
    assert [c.text for c in again] == [c.text for c in chunks]
    assert cache.stats.hits == 2

    private = [c async for c in synthesize_stream(engine, "Hello Jane Doe.", 8000, cache=False)]
    assert len(private) == 1
    assert cache.stats.writes == 2


async def test_measure_stream_reports_time_to_first_audio_and_rtf(piper_engine: PiperTts) -> None:
    timing = await measure_stream(piper_engine, THREE, 8000)
    assert timing.sentences == 3
    assert 0 < timing.first_audio_s < timing.total_s
    assert timing.audio_s > 3.0
    assert timing.rtf == pytest.approx(timing.total_s / timing.audio_s)
    assert timing.engine == "piper" and timing.rate == 8000


async def test_a_failing_sentence_raises_after_the_good_ones_were_delivered(
    espeak_engine,
) -> None:
    class FailingEspeak(Pyttsx3Tts):
        def render(self, text: str, rate: int, *, cacheable: bool = True) -> Audio:
            if "broken" in text:
                raise TtsError("voice crashed")
            return super().render(text, rate, cacheable=cacheable)

    engine = FailingEspeak()
    got = []
    with pytest.raises(TtsError, match="voice crashed"):
        async for chunk in synthesize_stream(engine, "Hello there. This is broken. Bye.", 8000):
            got.append(chunk.text)
    assert got == ["Hello there."]
