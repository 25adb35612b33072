"""The assistant's fixed prompts and published FAQ answers, synthesised before the first call.

A sentence is synthesised the first time a caller needs it, and the caller waits for it: an FAQ
answer not yet in the prompt cache took 618 ms to its first audio over SIP. So ``ivr serve``
renders, before it takes calls, every sentence a call would put in the cache without caller
data in it: the domain's responses with nothing to fill in, and the FAQ answers filled from
the knowledge files (``dialogue.actions.faq.published_answers``), each split and cached exactly
as the call path splits and caches it (``speech.tts.base``). What is cached already costs a file
read, so after the first start this takes about a second; a changed prompt or voice is rendered
again. Greetings and prompts with a caller's name, balance or digits are never rendered here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rasa.core.nlg.interpolator import interpolate_text

from dialogue.actions.faq import published_answers
from dialogue.knowledge import load_knowledge
from dialogue.settings import DialogueConfig
from dialogue.training import DOMAIN
from ivr.logs import get_logger
from logfields import fields
from speech.tts.base import TtsEngine, plan_speech, should_cache, tts_executor
from speech.tts.cache import CachedTts, PromptKey

log = get_logger(__name__)


@dataclass(frozen=True)
class Prompt:
    """A message the bot says the same to every caller."""

    text: str
    public: bool
    """Published figures (rates, fees): cached though they hold numbers (``BotMessage.public``)."""


@dataclass(frozen=True)
class Prepared:
    sentences: int
    """Sentences that belong in the cache."""
    rendered: int
    """Of them, synthesised now (the others were cached already)."""
    seconds: float


def fixed_prompts(config: DialogueConfig) -> list[Prompt]:
    """The domain's texts with no placeholder, and every published FAQ answer filled in."""
    root = Path(config.project_dir)
    responses: dict[str, Any] = yaml.safe_load((root / DOMAIN).read_text("utf-8"))["responses"]
    prompts = [
        Prompt(str(variation["text"]), _public(variation))
        for variations in responses.values()
        for variation in variations
        if variation.get("text") and "{" not in str(variation["text"])
    ]
    knowledge = load_knowledge(root / config.knowledge_dir)
    for name, values in published_answers(knowledge):
        for variation in responses.get(name) or ():
            if variation.get("text"):
                text = str(interpolate_text(str(variation["text"]), values))
                prompts.append(Prompt(text, _public(variation)))
    return list(dict.fromkeys(prompts))


def prepare_prompts(tts: TtsEngine, prompts: Iterable[Prompt], rate: int) -> Prepared:
    """Put every cacheable sentence of ``prompts`` at ``rate`` in ``tts``'s prompt cache, on
    the synthesis pool's threads (blocking: run it in a thread). Without a cache there is
    nothing to prepare."""
    started = time.perf_counter()
    if not isinstance(tts, CachedTts):
        return Prepared(0, 0, 0.0)
    sentences = list(
        dict.fromkeys(
            sentence.spoken
            for prompt in prompts
            for sentence in plan_speech(prompt.text)
            if should_cache(sentence, True, prompt.public)
        )
    )
    missing = [
        s for s in sentences if tts.cache.get(PromptKey.for_engine(tts.inner, s, rate)) is None
    ]
    if missing:
        log.info("tts.preparing_prompts", extra=fields(sentences=len(missing)))
    for done in [tts_executor().submit(tts.render, spoken, rate) for spoken in missing]:
        done.result()
    prepared = Prepared(len(sentences), len(missing), round(time.perf_counter() - started, 2))
    log.info(
        "tts.prompts_prepared",
        extra=fields(sentences=prepared.sentences, rendered=prepared.rendered, s=prepared.seconds),
    )
    return prepared


def _public(variation: dict[str, Any]) -> bool:
    custom = variation.get("custom")
    return bool(custom.get("public")) if isinstance(custom, dict) else False
