"""The prompt cache: fixed prompts come from disk, keys separate voices, damage is detected."""

from __future__ import annotations

import multiprocessing
import os
import wave
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from speech.audio import Audio
from speech.tts import CachedTts, PromptCache, is_fixed_prompt, synthesize_stream
from speech.tts.cache import PromptKey, encode_entry
from speech.tts.espeak import Pyttsx3Tts

PROMPT = "Thank you for calling First Bank."


class CountingEspeak(Pyttsx3Tts):
    """The real pyttsx3 engine, counting how often it is asked to synthesise."""

    def __init__(self, voice: str = "en-us", speaking_rate: float = 1.0) -> None:
        super().__init__(voice, speaking_rate)
        self.calls = 0

    def synthesize(self, text: str) -> Iterator[Audio]:
        self.calls += 1
        return super().synthesize(text)


@pytest.fixture
def counting(espeak_engine) -> CountingEspeak:
    return CountingEspeak()


def key(text: str = PROMPT, **changes: Any) -> PromptKey:
    fields: dict[str, Any] = {
        "text": text,
        "engine": "piper",
        "voice": "en_US-joe-medium",
        "revision": "1",
        "speaking_rate": 1.0,
        "rate": 8000,
    }
    fields.update(changes)
    return PromptKey(**fields)


def tone(rate: int = 8000, seconds: float = 0.5, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    samples = (rng.standard_normal(int(rate * seconds)) * 3000).astype(np.int16)
    return Audio(samples, rate)


def test_second_synthesis_of_a_prompt_comes_from_disk(counting: CountingEspeak, tmp_path) -> None:
    engine = CachedTts(counting, PromptCache(tmp_path))
    first = engine.render(PROMPT, 8000)
    assert counting.calls == 1
    second = engine.render(PROMPT, 8000)
    assert counting.calls == 1, "the engine was asked again for a cached prompt"
    assert np.array_equal(first.samples, second.samples)
    assert second.rate == 8000
    stats = engine.cache.stats
    assert (stats.hits, stats.misses, stats.writes) == (1, 1, 1)


def test_cache_survives_a_new_process_worth_of_objects(counting: CountingEspeak, tmp_path) -> None:
    CachedTts(counting, PromptCache(tmp_path)).render(PROMPT, 16000)
    fresh = CachedTts(counting, PromptCache(tmp_path))
    fresh.render(PROMPT, 16000)
    assert counting.calls == 1
    assert fresh.cache.stats.hits == 1


def test_rate_speaking_rate_and_voice_each_get_their_own_entry(
    counting: CountingEspeak, tmp_path
) -> None:
    cache = PromptCache(tmp_path)
    CachedTts(counting, cache).render(PROMPT, 8000)
    CachedTts(counting, cache).render(PROMPT, 16000)
    assert counting.calls == 2
    faster = CountingEspeak(speaking_rate=1.3)
    CachedTts(faster, cache).render(PROMPT, 8000)
    british = CountingEspeak("en-gb")
    CachedTts(british, cache).render(PROMPT, 8000)
    assert faster.calls == 1 and british.calls == 1
    assert len(list(cache.entries())) == 4


@pytest.mark.parametrize(
    "change",
    [
        {"text": "Goodbye."},
        {"engine": "pyttsx3"},
        {"voice": "gmw/en-us"},
        {"revision": "2"},
        {"speaking_rate": 1.1},
        {"rate": 16000},
    ],
)
def test_every_key_field_changes_the_file(change: dict[str, Any], tmp_path) -> None:
    cache = PromptCache(tmp_path)
    assert cache.path_for(key(**change)) != cache.path_for(key())
    cache.put(key(), tone())
    assert cache.get(key(**change)) is None


def test_entries_are_plain_wav_files_without_the_text(tmp_path) -> None:
    cache = PromptCache(tmp_path)
    audio = tone(16000)
    cache.put(key(rate=16000), audio)
    path = cache.path_for(key(rate=16000))
    assert path.name == key(rate=16000).digest().hex() + ".wav"
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        assert wav.readframes(wav.getnframes()) == audio.pcm
    assert PROMPT.encode() not in path.read_bytes()


@pytest.mark.parametrize(
    "damage",
    ["truncate", "flip_sample", "garbage", "empty", "other_key"],
)
def test_damaged_entry_is_detected_removed_and_synthesised_again(
    damage: str, counting: CountingEspeak, tmp_path
) -> None:
    cache = PromptCache(tmp_path)
    engine = CachedTts(counting, cache)
    original = engine.render(PROMPT, 8000)
    path = cache.path_for(PromptKey.for_engine(counting, PROMPT, 8000))
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip_sample":
        flipped = bytearray(data)
        flipped[-100] ^= 0x40
        path.write_bytes(bytes(flipped))
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    else:  # a valid entry of another prompt under this name
        path.write_bytes(encode_entry(key("Goodbye.", rate=8000), tone()))

    again = engine.render(PROMPT, 8000)
    assert cache.stats.corrupt == 1
    assert counting.calls == 2, "a damaged entry must be synthesised again"
    assert abs(again.duration - original.duration) < 0.1
    assert cache.get(PromptKey.for_engine(counting, PROMPT, 8000)) is not None, "not rewritten"


def _hammer(directory: str, worker: int) -> int:
    """Write and read the same few keys many times from another process."""
    cache = PromptCache(directory)
    bad = 0
    for i in range(60):
        k = key(f"prompt {i % 3}")
        cache.put(k, tone(seed=worker * 1000 + i))
        got = cache.get(k)
        if got is None or len(got.samples) != 4000:
            bad += 1
    return bad + cache.stats.corrupt


def test_concurrent_writers_never_leave_a_corrupt_or_partial_entry(tmp_path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=3, mp_context=ctx) as pool:
        results = list(pool.map(_hammer, [str(tmp_path)] * 3, range(3)))
    assert results == [0, 0, 0]
    cache = PromptCache(tmp_path)
    for i in range(3):
        assert cache.get(key(f"prompt {i}")) is not None
    assert cache.stats.corrupt == 0
    leftovers = [p for p in Path(tmp_path).rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []


def test_bounded_cache_evicts_least_recently_used_entries(tmp_path) -> None:
    entry_size = len(encode_entry(key(), tone()))
    cache = PromptCache(tmp_path, max_bytes=entry_size * 5)
    keys = [key(f"prompt {i}") for i in range(6)]
    for i, k in enumerate(keys[:5]):
        cache.put(k, tone(seed=i))
        os.utime(cache.path_for(k), (1_000_000 + i, 1_000_000 + i))  # old, in order
    assert cache.stats.evictions == 0
    assert cache.get(keys[0]) is not None  # a hit makes prompt 0 the most recently used
    cache.put(keys[5], tone(seed=5))  # one over the bound: the oldest unused ones go
    assert cache.stats.evictions == 2
    assert cache.size_bytes() <= entry_size * 5
    present = [cache.path_for(k).exists() for k in keys]
    assert present == [True, False, False, True, True, True]


def test_unwritable_cache_does_not_break_synthesis(counting: CountingEspeak, tmp_path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    engine = CachedTts(counting, PromptCache(blocker / "cache"))
    audio = engine.render(PROMPT, 8000)
    assert audio.duration > 1.0
    assert engine.cache.stats.write_errors == 1


def test_uncacheable_text_never_touches_the_disk(counting: CountingEspeak, tmp_path) -> None:
    engine = CachedTts(counting, PromptCache(tmp_path))
    engine.render(PROMPT, 8000, cacheable=False)
    engine.render(PROMPT, 8000, cacheable=False)
    assert counting.calls == 2
    assert list(engine.cache.entries()) == []


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("Thank you for calling First Bank.", True),
        ("Press 1 for balances, or 2 for cards.", True),
        ("Your balance is $1,200.50.", False),
        ("Your card ending in 4321 is active.", False),
        ("Your card ****4321 is active.", False),
        ("Your payment is due on December 15.", False),
        ("Your card ending 5 9 2 6 is active.", False),
        ("That's the account ending in five five zero one.", False),
        ("You owe one thousand dollars.", False),
        ("It is due Friday, December 4th.", False),
        ("Sorry, please choose a number from 1 to 5.", True),
    ],
)
def test_fixed_prompt_policy(text: str, fixed: bool) -> None:
    assert is_fixed_prompt(text) is fixed


@pytest.mark.asyncio(loop_scope="session")
async def test_text_nobody_vouched_for_is_never_cached(counting: CountingEspeak, tmp_path) -> None:
    """A name has no digits: text that looks fixed is cached only when its speaker says it is
    the same for every caller (``cache=True``), never by default."""
    engine = CachedTts(counting, PromptCache(tmp_path))
    for _ in range(2):
        assert [c async for c in synthesize_stream(engine, "Thanks, Bob. You're all set.", 8000)]
    assert counting.calls == 4 and list(engine.cache.entries()) == []  # two sentences, twice


@pytest.mark.asyncio(loop_scope="session")
async def test_published_text_is_cached_with_its_figures_and_caller_data_is_not(
    counting: CountingEspeak, tmp_path
) -> None:
    """The knowledge base's answers (``public`` messages) are the same for every caller, so
    their audio is cached although "25 dollars" would otherwise mark them as per-caller."""
    engine = CachedTts(counting, PromptCache(tmp_path))
    fee = "The overdraft fee is 25 dollars a day."
    balance = "Your balance is 1,234 dollars."
    for _ in range(2):
        assert [c async for c in synthesize_stream(engine, fee, 8000, cache=True, public=True)]
        assert [c async for c in synthesize_stream(engine, balance, 8000, cache=True)]
    assert counting.calls == 3  # the fee once, the balance every time
    assert len(list(engine.cache.entries())) == 1
    assert [c async for c in synthesize_stream(engine, fee, 8000, cache=False, public=True)]
    assert counting.calls == 4  # cache=False still wins
