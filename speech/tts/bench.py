"""TTS latency benchmark: time to first audio and real-time factor per engine, on this machine.

``python -m speech.tts.bench [--engine piper|pyttsx3 ...] [--rate 8000] [--repeats 3]
[--piper-threads 1] [--json]``

Engines are measured without the prompt cache (a cache hit costs a file read, not synthesis),
after one warm-up synthesis, through the same ``synthesize_stream`` path the calls use.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace

from speech.settings import SUPPORTED_RATES, TtsConfig
from speech.tts import create_tts_engine
from speech.tts.base import TtsEngine, TtsTiming, measure_stream

TEXTS = {
    "prompt": "Thank you for calling First Bank.",
    "reply": (
        "Your checking account ending in 4321 has a balance of $1,200.50. "
        "Your next payment of $250 is due on December 5. "
        "Is there anything else I can help you with?"
    ),
    "long": (
        "Please listen carefully, as our menu options have changed. "
        "For account balances and recent transactions, press 1 or say balance. "
        "To report a lost or stolen card, press 2 or say lost card. "
        "For loans and mortgages, press 3. "
        "To speak with an agent at any time, press 0 or say agent."
    ),
}


@dataclass(frozen=True)
class EngineReport:
    """Benchmark summary for one engine (medians over the repeats)."""

    engine: str
    voice: str
    rate: int
    load_s: float
    """Creating the engine (loading the voice), once per process."""
    first_audio_s: dict[str, float]
    """Median time to first audio per text."""
    rtf: dict[str, float]
    """Median real-time factor per text."""
    audio_s: dict[str, float]


def bench_engine(
    engine: TtsEngine, rate: int, repeats: int = 3, texts: dict[str, str] | None = None
) -> dict[str, list[TtsTiming]]:
    """Measure each text ``repeats`` times after a warm-up."""
    texts = texts or TEXTS
    engine.warm_up()
    results: dict[str, list[TtsTiming]] = {}
    for name, text in texts.items():
        results[name] = [
            asyncio.run(measure_stream(engine, text, rate, cache=False)) for _ in range(repeats)
        ]
    return results


def run(engine_name: str, rate: int, repeats: int, config: TtsConfig | None = None) -> EngineReport:
    """Load ``engine_name`` (timed) and benchmark it; other settings come from ``config``."""
    config = replace(config or TtsConfig(), engine=engine_name)  # type: ignore[arg-type]
    start = time.perf_counter()
    engine = create_tts_engine(config, use_cache=False)
    load = time.perf_counter() - start
    results = bench_engine(engine, rate, repeats)
    return EngineReport(
        engine.name,
        engine.voice,
        rate,
        round(load, 3),
        {k: round(statistics.median(t.first_audio_s for t in v), 4) for k, v in results.items()},
        {k: round(statistics.median(t.rtf for t in v), 4) for k, v in results.items()},
        {k: round(statistics.median(t.audio_s for t in v), 2) for k, v in results.items()},
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", choices=["piper", "pyttsx3"])
    parser.add_argument("--rate", type=int, default=8000, choices=SUPPORTED_RATES)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--piper-threads", type=int, default=TtsConfig.piper_threads)
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args(argv)
    for name in args.engine or ["piper", "pyttsx3"]:
        config = TtsConfig(piper_threads=args.piper_threads)
        report = run(name, args.rate, args.repeats, config)
        if args.json:
            print(json.dumps(asdict(report)))
            continue
        print(f"{report.engine} {report.voice} at {report.rate} Hz: load {report.load_s:.2f} s")
        for text in report.rtf:
            print(
                f"  {text:<7} audio {report.audio_s[text]:5.2f} s  "
                f"first audio {report.first_audio_s[text] * 1000:7.1f} ms  "
                f"RTF {report.rtf[text]:.3f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
