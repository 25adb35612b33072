"""Measure an ASR engine: model load time, per-utterance latency, real-time factor and WER."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from speech.asr.base import AsrEngine
from speech.asr.scoring import WerResult, word_error_rate
from speech.audio import Audio


@dataclass(frozen=True)
class AsrBenchResult:
    """Timing and accuracy of one engine over a set of clips."""

    engine: str
    load_seconds: float
    """Model load (near zero when the process had already loaded it)."""
    utterances: int
    audio_seconds: float
    transcribe_seconds: float
    latencies_ms: tuple[float, ...]
    """Wall time of each transcription, in clip order."""
    wer: WerResult | None
    """Against the references given (None when no clip had one)."""

    @property
    def real_time_factor(self) -> float:
        """Processing time over audio time (below 1: faster than real time)."""
        return self.transcribe_seconds / self.audio_seconds if self.audio_seconds else 0.0

    def percentile_ms(self, pct: float) -> float:
        """Latency percentile (nearest rank) in milliseconds."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    def summary(self) -> str:
        wer = f", WER {self.wer.wer:.1%} of {self.wer.words} words" if self.wer else ""
        return (
            f"{self.engine}: load {self.load_seconds:.2f} s, {self.utterances} utterances "
            f"({self.audio_seconds:.1f} s audio) in {self.transcribe_seconds:.2f} s, "
            f"RTF {self.real_time_factor:.3f}, p50 {self.percentile_ms(50):.0f} ms, "
            f"p95 {self.percentile_ms(95):.0f} ms{wer}"
        )


def bench_engine(
    engine: AsrEngine, clips: Sequence[tuple[Audio, str | None]], warmup: bool = True
) -> AsrBenchResult:
    """Load ``engine``, then transcribe each ``(audio, reference or None)`` clip in turn."""
    started = time.perf_counter()
    engine.load()
    load_seconds = time.perf_counter() - started
    if warmup and clips:
        engine.transcribe(clips[0][0])
    latencies: list[float] = []
    references: list[str] = []
    hypotheses: list[str] = []
    for audio, reference in clips:
        begin = time.perf_counter()
        result = engine.transcribe(audio)
        latencies.append((time.perf_counter() - begin) * 1000)
        if reference:
            references.append(reference)
            hypotheses.append(result.text)
    return AsrBenchResult(
        engine=engine.name,
        load_seconds=load_seconds,
        utterances=len(clips),
        audio_seconds=sum(audio.duration for audio, _ in clips),
        transcribe_seconds=sum(latencies) / 1000,
        latencies_ms=tuple(round(ms, 1) for ms in latencies),
        wer=word_error_rate(references, hypotheses) if references else None,
    )
