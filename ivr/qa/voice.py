"""The simulated caller's voice: a TTS voice at a chosen pace, heard through a G.711 phone line.

Three voice families, none of them the bot's own recogniser's training voice: piper (neural),
espeak-ng (formant) and Festival (Debian's diphone and HTS voices), so QA and the benchmarks
can hear callers the assistant was not tuned on.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ivr.config import QaConfig
from speech.audio import Audio, load_audio
from speech.channel import Codec, telephone_channel
from speech.settings import TtsConfig
from speech.tts import create_tts_engine
from speech.tts.espeak import words_per_minute
from speech.tts.normalize import normalize_text
from telephony.bridge import CALL_RATE

CallerEngine = Literal["piper", "espeak", "festival"]
CALLER_ENGINES: tuple[CallerEngine, ...] = ("piper", "espeak", "festival")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
"""Festival's US English voices from Debian (festvox-kallpc16k, -kdlpc16k, -us-slt-hts)."""
SYNTHESISER_TIMEOUT_S = 60.0
"""A Festival or espeak-ng process speaking one caller line."""


class VoiceError(RuntimeError):
    """A caller voice cannot speak (an unknown voice, or its synthesiser failed)."""


@dataclass(frozen=True)
class CallerVoice:
    """How a scripted caller sounds on the line."""

    engine: CallerEngine = "piper"
    """piper (the neural joe voice), espeak (espeak-ng, any of its voices) or festival."""
    voice: str = "en-us"
    """espeak-ng voice name (e.g. en-us, en-gb+f2) or a Festival voice (``FESTIVAL_VOICES``;
    en-us there means the first); ignored by piper, which has one voice."""
    rate: float = 1.0
    """Speaking rate: 1.0 natural, 0.8 slower, 1.2 faster."""
    snr_db: float | None = None
    """Background noise at this signal-to-noise ratio; None for a clean line."""
    codec: Codec = "ulaw"
    """G.711 law of the simulated line."""
    varied: bool = False
    """piper only: sample its pace and timbre afresh for each rendering, as a person varies
    (benchmarks and generated training data, seeded for the run). Off, the same words always
    sound the same, so a QA run or a test can be repeated exactly."""

    def describe(self) -> str:
        noise = f", noise {self.snr_db:g} dB SNR" if self.snr_db is not None else ""
        names = {
            "piper": "piper joe",
            "espeak": f"espeak-ng {self.voice}",
            "festival": f"festival {festival_voice(self.voice)}",
        }
        return f"{names[self.engine]} x{self.rate:g}, {self.codec}{noise}"


def configured_voice(qa: QaConfig) -> CallerVoice:
    """The voice of a simulated caller whose script names none (``qa.caller_*``)."""
    return CallerVoice(engine=qa.caller_engine, rate=qa.caller_rate, snr_db=qa.caller_snr_db)


def speak(voice: CallerVoice, text: str, seed: int = 0, tts: TtsConfig | None = None) -> Audio:
    """``text`` in ``voice`` as heard over the simulated 8 kHz G.711 line.

    ``tts`` supplies the engine settings (a piper model path, threads); the voice's own engine,
    espeak voice name and rate override it. ``seed`` fixes the line noise.
    """
    return over_the_line(voice, render(voice, text, tts), seed)


def render(voice: CallerVoice, text: str, tts: TtsConfig | None = None) -> Audio:
    """``text`` in ``voice`` at its synthesiser's own rate, before the line (no codec, no noise):
    one rendering can be sent over several lines."""
    if voice.engine == "festival":
        return festival_render(normalize_text(text), festival_voice(voice.voice), voice.rate)
    if voice.engine == "espeak":
        return espeak_render(normalize_text(text), voice.voice, voice.rate)
    config = replace(
        tts or TtsConfig(),
        engine="piper",
        speaking_rate=voice.rate,
        piper_variation=voice.varied,
        cache_dir="",
    )
    engine = create_tts_engine(config, use_cache=False)
    return engine.render(normalize_text(text), engine.native_rate, cacheable=False)


def over_the_line(voice: CallerVoice, audio: Audio, seed: int = 0) -> Audio:
    """``audio`` as heard over ``voice``'s line (its codec and noise; ``seed`` fixes the noise)."""
    return telephone_channel(audio, codec=voice.codec, snr_db=voice.snr_db, seed=seed)


def festival_voice(name: str) -> str:
    """The Festival voice ``name`` stands for (a voice script's default en-us: the first)."""
    return FESTIVAL_VOICES[0] if name == "en-us" else name


def festival_render(text: str, voice: str, rate: float = 1.0) -> Audio:
    """``text`` spoken by Festival's ``voice`` at ``rate`` (its own sample rate), via text2wave."""
    if voice not in FESTIVAL_VOICES:
        raise VoiceError(f"unknown Festival voice {voice!r} (one of {', '.join(FESTIVAL_VOICES)})")
    pace = _festival_pace(voice, rate)
    command = ["text2wave", "-o", "{wav}", "-eval", f"(voice_{voice})", "-eval", pace]
    return _synthesiser_render(command, text, f"festival voice {voice}")


def espeak_render(text: str, voice: str, rate: float = 1.0) -> Audio:
    """``text`` spoken by espeak-ng's ``voice`` at ``rate`` (22.05 kHz), by a process of its own:
    within one process espeak-ng carries state from an utterance to the next (the bot's pyttsx3
    engine renders the same words a few samples apart each time), a fresh one never does."""
    command = ["espeak-ng", "-v", voice, "-s", str(words_per_minute(rate)), "-w", "{wav}"]
    return _synthesiser_render(command, text, f"espeak-ng voice {voice}")


def _synthesiser_render(command: list[str], text: str, what: str) -> Audio:
    """Run a synthesiser's command line (``{wav}``: the file it writes) on ``text`` from stdin."""
    with tempfile.TemporaryDirectory(prefix="caller-") as folder:
        wav = Path(folder) / "said.wav"
        try:
            done = subprocess.run(
                [part.replace("{wav}", str(wav)) for part in command],
                input=text.encode(),
                capture_output=True,
                timeout=SYNTHESISER_TIMEOUT_S,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise VoiceError(f"{what} cannot speak: {exc}") from exc
        if done.returncode != 0 or not wav.is_file():
            error = done.stderr.decode(errors="replace").strip()[-300:]
            raise VoiceError(f"{what} failed: {error or done.returncode}")
        return load_audio(wav)


def _festival_pace(voice: str, rate: float) -> str:
    """Festival code setting the speaking rate: HTS voices take the engine's speed (``-r``),
    diphone voices stretch their durations."""
    if voice.endswith("_hts"):
        return f'(set! hts_engine_params (append hts_engine_params (list (list "-r" {rate:.3f}))))'
    return f"(Parameter.set 'Duration_Stretch {1 / rate:.3f})"


class CallerMouth:
    """Turns a script's words into caller audio at the call rate, off the event loop."""

    rate = CALL_RATE

    async def speak(self, voice: CallerVoice, text: str, seed: int = 0) -> bytes:
        line = await asyncio.to_thread(speak, voice, text, seed)
        return line.pcm
