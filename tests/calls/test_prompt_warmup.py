"""Fixed prompts and published FAQ answers are synthesised when ``ivr serve`` starts, so the first
caller hears them from the prompt cache: the real piper voice, a real prompt cache on disk, the
repository's domain and knowledge files, and the bot server's own start."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from dialogue.actions.faq import published_answers
from dialogue.knowledge import load_knowledge
from ivr.config import Config
from ivr.prompt_warmup import Prompt, fixed_prompts, prepare_prompts
from ivr.server import BotServer
from ivr.services import Services
from speech.audio import Audio
from speech.tts import create_tts_engine
from speech.tts.base import TtsEngine, plan_speech, should_cache, synthesize_stream
from speech.tts.cache import CachedTts
from telephony.bridge import CALL_RATE
from tests.calls.conftest import call_dirs, services  # noqa: F401 (the engines, loaded once)

GREETING = "Thanks for calling City Bank."


class CountingVoice(TtsEngine):
    """The real engine, counting what it is asked to synthesise (a cache miss each)."""

    def __init__(self, inner: TtsEngine) -> None:
        self.inner = inner
        self.name, self.voice = inner.name, inner.voice
        self.native_rate, self.speaking_rate = inner.native_rate, inner.speaking_rate
        self.rendered: list[str] = []

    def synthesize(self, text: str) -> Iterator[Audio]:
        self.rendered.append(text)
        return self.inner.synthesize(text)


def cached_voice(config: Config, folder: Path) -> tuple[CachedTts, CountingVoice]:
    real = create_tts_engine(config.tts, use_cache=False)
    counting = CountingVoice(real)
    cached = create_tts_engine(dataclasses.replace(config.tts, cache_dir=str(folder)))
    assert isinstance(cached, CachedTts)
    return CachedTts(counting, cached.cache), counting


def test_the_prompts_are_the_fixed_responses_and_every_published_answer(
    services: Services,  # noqa: F811
) -> None:
    config = services.config.dialogue
    prompts = fixed_prompts(config)
    texts = [p.text for p in prompts]
    assert not [t for t in texts if "{" in t], "a response with a slot to fill is per caller"
    assert any(t.startswith(GREETING) for t in texts)
    knowledge = load_knowledge(Path(config.project_dir) / config.knowledge_dir)
    hours = [p for p in prompts if knowledge.branch_hours in p.text]
    assert hours and all(p.public for p in hours)
    for fee in knowledge.fees:
        assert Prompt(fee.say, public=True) in prompts
    assert (
        len([a for a in published_answers(knowledge) if a[0] == "utter_fees"])
        == len(knowledge.fees) + 1
    )
    assert len(texts) == len(set(texts))


@pytest.mark.asyncio(loop_scope="session")
async def test_the_server_prepares_the_prompts_before_it_takes_calls_unless_told_not_to(
    services: Services,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Prepared at the start, the greeting and the FAQ answers play without one synthesis, and
    the next start renders nothing; a message with caller data in it is still synthesised
    (never prepared, never cached). Told not to, the server leaves the cache empty."""
    for prepare in (False, True):
        folder = tmp_path / str(prepare)
        voice, counting = cached_voice(services.config, folder)
        config = dataclasses.replace(
            services.config,
            tts=dataclasses.replace(services.config.tts, prepare_prompts=prepare),
            sip=dataclasses.replace(services.config.sip, host="127.0.0.1", port=0),
            http=dataclasses.replace(services.config.http, host="127.0.0.1", port=0),
        )
        bot = BotServer(config, dataclasses.replace(services, config=config, tts=voice))
        await bot.start()
        await bot.stop()
        cached = list(folder.rglob("*.wav"))
        if not prepare:
            assert cached == [] and counting.rendered == []
            continue
        assert len(cached) == len(counting.rendered) > 100
    counting.rendered.clear()
    prompts = fixed_prompts(services.config.dialogue)
    for prompt in prompts:
        async for _ in synthesize_stream(
            voice, prompt.text, CALL_RATE, cache=True, public=prompt.public
        ):
            pass
    # Only what the call path never caches is synthesised again ("..., key it in dollars"
    # reads as an amount, which a fixed-prompt check keeps out of the cache).
    uncached = [
        sentence.spoken
        for prompt in prompts
        for sentence in plan_speech(prompt.text)
        if not should_cache(sentence, True, prompt.public)
    ]
    assert counting.rendered == uncached
    again = prepare_prompts(voice, prompts, CALL_RATE)
    assert again.rendered == 0 and again.sentences == len(cached)
    async for _ in synthesize_stream(voice, "Your balance is $1,234.56.", CALL_RATE, cache=True):
        pass
    assert len(counting.rendered) == len(uncached) + 1
