"""The bench caller's voice: scripted lines synthesised, sent over a G.711 line, cut into frames.

Lines are FAQ questions that need no PIN and keep the call going (no goodbye, no agent), so a
call can take as many turns as a scenario wants. The last voiced frame of each line is found by
the bot's own endpointer settings, so "end of caller speech" means the same on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ivr.bench.caller import CallerLine
from ivr.config import Config
from ivr.qa.voice import CallerVoice, speak
from speech.audio import Audio, iter_frames
from speech.endpointer import Endpointer, UtteranceEnded
from speech.g711 import ulaw_encode
from speech.settings import VadConfig

RATE = 8000
SCRIPT = (
    "What is the interest rate on a savings account?",
    "How much is the overdraft fee?",
    "Thank you.",
    "What rate do you charge on credit cards?",
    "How much is a replacement card?",
    "What interest does a checking account earn?",
)
"""A caller asking FAQ questions with one-sentence answers (a bounded turn length), no PIN,
no goodbye, no handoff. Answers quoting amounts are synthesised every time (never cached),
the others come from the prompt cache after their first use."""


def caller_clips(
    config: Config, lines: Sequence[str], noisy_every: int = 0, snr_db: float = 20.0
) -> list[Audio]:
    """The lines in the piper voice, slowed a little, as heard over an 8 kHz G.711 line.

    With ``noisy_every=n`` every n-th line also carries background noise at ``snr_db``.
    """
    clips = []
    for index, line in enumerate(lines):
        noisy = noisy_every > 0 and index % noisy_every == noisy_every - 1
        voice = CallerVoice(rate=0.9, snr_db=snr_db if noisy else None)
        clips.append(speak(voice, line, seed=index, tts=config.tts))
    return clips


def last_voiced_frame(pcm: bytes, vad: VadConfig) -> int:
    """Index of the 20 ms frame holding the end of the last utterance the endpointer finds."""
    endpointer = Endpointer(replace(vad, frame_ms=20), RATE)
    ends = [
        event.end_ms
        for event in endpointer.feed(pcm + bytes(RATE * 2 * 2))
        if isinstance(event, UtteranceEnded)
    ]
    if not ends:
        raise ValueError("the endpointer finds no speech in this caller line")
    return max(0, ends[-1] // 20 - 1)


def caller_lines(config: Config, lines: Sequence[str] = SCRIPT) -> list[CallerLine]:
    """The script as ready-to-send PCMU frames, each with its last voiced frame."""
    out = []
    for text, clip in zip(lines, caller_clips(config, lines), strict=True):
        frames = list(iter_frames(clip.pcm, RATE, 20))
        last = min(last_voiced_frame(clip.pcm, config.vad), len(frames) - 1)
        payloads = tuple(ulaw_encode(frame) for frame in frames)
        out.append(CallerLine(text, payloads, last))
    return out
