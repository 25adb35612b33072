"""Speech recognition engines behind one interface (see ``speech.asr.base``).

``create_asr_engine`` picks the engine from the configuration: ``vosk`` (streaming Kaldi, needs a
model directory), ``whisper`` (faster-whisper tiny.en, the embedded default), or ``auto`` (vosk
when a vosk model directory is configured, else whisper).
"""

from __future__ import annotations

from speech.asr.base import (
    AsrEngine,
    AsrError,
    AsrStream,
    AsyncAsrStream,
    Transcript,
    Vocabulary,
    Word,
)
from speech.settings import AsrConfig

__all__ = [
    "AsrEngine",
    "AsrError",
    "AsrStream",
    "AsyncAsrStream",
    "Transcript",
    "Vocabulary",
    "Word",
    "create_asr_engine",
    "engine_name",
]


def engine_name(config: AsrConfig) -> str:
    """The engine ``config`` selects: ``auto`` resolves to vosk or whisper."""
    if config.engine == "auto":
        return "vosk" if config.vosk_model else "whisper"
    return config.engine


def create_asr_engine(
    config: AsrConfig,
    vocabulary: Vocabulary | None = None,
    word_timestamps: bool = False,
    serving: bool = False,
) -> AsrEngine:
    """Build the configured engine (models load on first use, once per process).

    ``vocabulary`` biases every utterance toward the hotline's words when
    ``config.use_vocabulary`` is on; ``word_timestamps`` asks whisper for per-word timing (vosk
    always has it); ``serving``: for the bot's calls, where whisper recognises in worker
    processes when ``config.worker_processes`` is on.
    """
    vocab = vocabulary if (vocabulary is not None and config.use_vocabulary) else None
    name = engine_name(config)
    if name == "vosk":
        if not config.vosk_model:
            raise AsrError("asr.engine is vosk but asr.vosk_model is not set")
        from speech.asr.vosk import VoskEngine

        return VoskEngine(
            config.vosk_model,
            vocabulary=vocab,
            domain_grammar=config.vosk_domain_grammar,
            max_seconds=config.max_audio_s,
            max_concurrent=config.max_concurrent,
        )
    from speech.asr.whisper import WhisperEngine

    return WhisperEngine(
        model_dir=config.whisper_model,
        compute_type=config.whisper_compute_type,
        beam_size=config.whisper_beam_size,
        greedy_first=config.whisper_greedy_first,
        language=config.language,
        cpu_threads=config.cpu_threads,
        vocabulary=vocab,
        word_timestamps=word_timestamps,
        max_seconds=config.max_audio_s,
        max_concurrent=config.max_concurrent,
        encoder=config.whisper_encoder,
        processes=serving and config.worker_processes,
    )
