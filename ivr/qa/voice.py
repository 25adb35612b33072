"""The simulated caller's voice: a TTS voice at a chosen pace, heard through a G.711 phone line."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Literal

from ivr.config import QaConfig
from speech.audio import Audio
from speech.channel import Codec, telephone_channel
from speech.settings import TtsConfig
from speech.tts import create_tts_engine
from speech.tts.normalize import normalize_text
from telephony.bridge import CALL_RATE

CallerEngine = Literal["piper", "espeak"]


@dataclass(frozen=True)
class CallerVoice:
    """How a scripted caller sounds on the line."""

    engine: CallerEngine = "piper"
    """piper (the neural joe voice) or espeak (espeak-ng, any of its voices)."""
    voice: str = "en-us"
    """espeak-ng voice name (e.g. en-us, en-gb+f2); ignored by piper, which has one voice."""
    rate: float = 1.0
    """Speaking rate: 1.0 natural, 0.8 slower, 1.2 faster."""
    snr_db: float | None = None
    """Background noise at this signal-to-noise ratio; None for a clean line."""
    codec: Codec = "ulaw"
    """G.711 law of the simulated line."""

    def describe(self) -> str:
        noise = f", noise {self.snr_db:g} dB SNR" if self.snr_db is not None else ""
        name = "piper joe" if self.engine == "piper" else f"espeak-ng {self.voice}"
        return f"{name} x{self.rate:g}, {self.codec}{noise}"


def configured_voice(qa: QaConfig) -> CallerVoice:
    """The voice of a simulated caller whose script names none (``qa.caller_*``)."""
    return CallerVoice(engine=qa.caller_engine, rate=qa.caller_rate, snr_db=qa.caller_snr_db)


def speak(voice: CallerVoice, text: str, seed: int = 0, tts: TtsConfig | None = None) -> Audio:
    """``text`` in ``voice`` as heard over the simulated 8 kHz G.711 line.

    ``tts`` supplies the engine settings (a piper model path, threads); the voice's own engine,
    espeak voice name and rate override it. ``seed`` fixes the line noise.
    """
    config = replace(
        tts or TtsConfig(),
        engine="piper" if voice.engine == "piper" else "pyttsx3",
        pyttsx3_voice=voice.voice,
        speaking_rate=voice.rate,
        cache_dir="",
    )
    engine = create_tts_engine(config, use_cache=False)
    audio = engine.render(normalize_text(text), engine.native_rate, cacheable=False)
    return telephone_channel(audio, codec=voice.codec, snr_db=voice.snr_db, seed=seed)


class CallerMouth:
    """Turns a script's words into caller audio at the call rate, off the event loop."""

    rate = CALL_RATE

    async def speak(self, voice: CallerVoice, text: str, seed: int = 0) -> bytes:
        line = await asyncio.to_thread(speak, voice, text, seed)
        return line.pcm
