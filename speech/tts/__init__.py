"""Speech synthesis: engines behind one interface, prompt cache, sentence-by-sentence streaming.

Typical call-path use::

    engine = create_tts_engine(config.tts)          # loaded once per process, shared
    async for chunk in synthesize_stream(engine, reply_text, rate=8000):
        ...  # frame chunk.pcm and send it; the first chunk comes after the first sentence

Engine modules (piper, pyttsx3) are imported only when an engine of that kind is created.
"""

from __future__ import annotations

import threading
from pathlib import Path

from speech.settings import TtsConfig
from speech.tts.base import (
    SpeechChunk,
    TtsEngine,
    TtsError,
    TtsTiming,
    is_fixed_prompt,
    join_chunks,
    measure_stream,
    plan_speech,
    synthesize_stream,
    synthesize_text,
)
from speech.tts.cache import CachedTts, PromptCache

__all__ = [
    "CachedTts",
    "PromptCache",
    "SpeechChunk",
    "TtsEngine",
    "TtsError",
    "TtsTiming",
    "create_tts_engine",
    "is_fixed_prompt",
    "join_chunks",
    "measure_stream",
    "plan_speech",
    "prompt_cache",
    "synthesize_stream",
    "synthesize_text",
]

_engines: dict[tuple[object, ...], TtsEngine] = {}
_caches: dict[tuple[Path, int | None], PromptCache] = {}
_lock = threading.Lock()


def prompt_cache(directory: str | Path, max_bytes: int | None = None) -> PromptCache:
    """The shared ``PromptCache`` object for a directory (one per process, so stats add up)."""
    key = (Path(directory).resolve(), max_bytes)
    with _lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = PromptCache(directory, max_bytes)
        return cache


def create_tts_engine(config: TtsConfig, *, use_cache: bool = True) -> TtsEngine:
    """The engine ``config`` describes, created once per process and shared afterwards.

    With ``use_cache`` and a non-empty ``cache_dir`` the engine is wrapped in ``CachedTts``.
    Loading a voice takes about a second (piper), so call this at start-up, not per call.
    """
    cached = use_cache and bool(config.cache_dir)
    max_bytes = config.cache_max_mb * 1024 * 1024 if config.cache_max_mb else None
    key = (
        config.engine,
        config.piper_model,
        config.pyttsx3_voice,
        config.piper_threads,
        config.piper_variation,
        round(config.speaking_rate, 4),
        config.cache_dir if cached else "",
        max_bytes,
    )
    with _lock:
        engine = _engines.get(key)
    if engine is not None:
        return engine
    engine = _new_engine(config)
    if cached:
        engine = CachedTts(engine, prompt_cache(config.cache_dir, max_bytes))
    with _lock:
        return _engines.setdefault(key, engine)


def _new_engine(config: TtsConfig) -> TtsEngine:
    if config.engine == "piper":
        from speech.tts.piper import PiperTts

        return PiperTts(
            config.piper_model,
            config.speaking_rate,
            config.piper_threads,
            variation=config.piper_variation,
        )
    if config.engine == "pyttsx3":
        from speech.tts.espeak import Pyttsx3Tts

        return Pyttsx3Tts(config.pyttsx3_voice, config.speaking_rate)
    raise TtsError(f"unknown TTS engine {config.engine!r}; use piper or pyttsx3")
