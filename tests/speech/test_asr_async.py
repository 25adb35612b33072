"""ASR from asyncio: CPU work runs on the engine's pool, so the event loop keeps serving calls."""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np
import pytest

from speech.asr import create_asr_engine
from speech.asr.scoring import normalise_text
from speech.asr.vosk import VoskEngine
from speech.asr.whisper import WhisperEngine
from speech.audio import Audio, iter_frames
from speech.channel import telephone_channel
from speech.settings import AsrConfig
from tests.speech.corpus import Sample, espeak

pytestmark = pytest.mark.slow


class Ticker:
    """A coroutine that wakes every 10 ms and records the longest gap between wake-ups."""

    def __init__(self) -> None:
        self.ticks = 0
        self.max_gap = 0.0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            self.max_gap = max(self.max_gap, now - last)
            last = now
            self.ticks += 1

    def stop(self) -> None:
        self._stop.set()


def _joined(samples: list[Sample], texts: list[str]) -> tuple[Audio, str]:
    chosen = [next(s for s in samples if s.text == t) for t in texts]
    gap = np.zeros(4000, dtype=np.int16)
    parts = [p for s in chosen for p in (s.audio.samples, gap)]
    return Audio(np.concatenate(parts), 8000), " ".join(texts)


@pytest.mark.timeout(180)
async def test_two_concurrent_whisper_transcriptions_do_not_stall_the_loop(
    whisper_engine: WhisperEngine, piper_samples: list[Sample]
) -> None:
    first, first_text = _joined(
        piper_samples, ["i lost my debit card", "i need to activate my new card"]
    )
    second, second_text = _joined(
        piper_samples, ["transfer two hundred dollars to checking", "cancel the transfer"]
    )
    started = time.perf_counter()
    blocking = whisper_engine.transcribe(first)
    one_call = time.perf_counter() - started

    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    results = await asyncio.gather(
        whisper_engine.transcribe_async(first), whisper_engine.transcribe_async(second)
    )
    ticker.stop()
    await ticking

    assert results[0].text == blocking.text
    assert normalise_text(results[1].text) == normalise_text(second_text)
    assert normalise_text(results[0].text) == normalise_text(first_text)
    # Run on the loop, one transcription would have frozen it for `one_call` seconds.
    assert one_call > 0.15
    assert ticker.max_gap < min(0.25, one_call / 2), (ticker.max_gap, one_call)
    assert ticker.ticks >= 10


@pytest.mark.timeout(120)
async def test_async_vosk_stream_feeds_in_order_off_the_loop(
    vosk_ko_engine: VoskEngine, tmp_path
) -> None:
    audio = telephone_channel(espeak("오늘 날씨가 좋네요", tmp_path / "k.wav", "ko", 120))
    frames = list(iter_frames(audio.pcm, audio.rate, 20))
    expected = vosk_ko_engine.transcribe(audio)

    ticker = Ticker()
    ticking = asyncio.create_task(ticker.run())
    stream = await vosk_ko_engine.open_stream_async(audio.rate)
    # Fire every frame at once: the per-stream lock must keep them in order.
    partials = await asyncio.gather(*(stream.feed(frame) for frame in frames))
    final = await stream.finish()
    await stream.close()
    ticker.stop()
    await ticking

    assert final.text == expected.text and final.text
    assert any(p is not None and not p.is_final for p in partials)
    assert ticker.max_gap < 0.25


@pytest.mark.timeout(120)
async def test_whisper_stream_buffers_audio_without_waiting_for_a_busy_pool(
    whisper_engine: WhisperEngine, piper_samples: list[Sample]
) -> None:
    """A call's audio is only buffered until its utterance ends: it must not queue behind
    other calls' recognitions on the pool (that wait would be added to its turn)."""
    long_audio, _ = _joined(piper_samples, ["i lost my debit card", "cancel the transfer"])
    sample = next(s for s in piper_samples if s.text == "freeze my card please")
    stream = await whisper_engine.open_stream_async(sample.audio.rate)
    busy = [
        asyncio.create_task(whisper_engine.transcribe_async(long_audio))
        for _ in range(whisper_engine.max_concurrent + 1)
    ]
    await asyncio.sleep(0)
    pcm = sample.audio.pcm
    for offset in range(0, len(pcm), 160):
        await stream.feed(pcm[offset : offset + 160])
    assert not any(task.done() for task in busy)
    assert stream.stream.fed_seconds == sample.audio.duration
    await asyncio.gather(*busy)
    final = await stream.finish()
    await stream.close()
    assert final.text and final.text == whisper_engine.transcribe(sample.audio).text


@pytest.mark.timeout(120)
async def test_max_concurrent_is_how_many_recognitions_run_at_once(
    whisper_engine: WhisperEngine, piper_samples: list[Sample], caplog: pytest.LogCaptureFixture
) -> None:
    """Two recognitions asked for at once: one pool thread takes both in turn at
    ``asr.max_concurrent`` 1, two threads take one each at 2."""
    audio = next(s for s in piper_samples if s.text == "freeze my card please").audio
    threads = {}
    for most in (1, 2):
        engine = create_asr_engine(AsrConfig(engine="whisper", max_concurrent=most))
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="speech.asr.whisper"):
            await asyncio.gather(engine.transcribe_async(audio), engine.transcribe_async(audio))
        engine.shutdown()
        threads[most] = {r.threadName for r in caplog.records if r.msg == "asr.whisper.final"}
    assert (len(threads[1]), len(threads[2])) == (1, 2), threads
