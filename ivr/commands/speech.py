"""CLI commands for the speech layer."""

import click

from ivr.commands import config_of
from speech.settings import SUPPORTED_RATES

COMMANDS: list[click.Command] = []


@click.command("say")
@click.argument("text")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="WAV file to write (mono, 16-bit).",
)
@click.option(
    "--engine",
    type=click.Choice(["piper", "pyttsx3"]),
    default=None,
    help="TTS engine (default: tts.engine from the configuration).",
)
@click.option(
    "--rate",
    type=click.Choice([str(r) for r in SUPPORTED_RATES]),
    default=None,
    help="Sample rate of the WAV in Hz (default: the voice's native rate, 22050 for both engines).",
)
@click.option(
    "--speaking-rate",
    type=click.FloatRange(0.25, 4.0),
    default=None,
    help="Pace relative to the voice's natural pace (default: tts.speaking_rate).",
)
@click.option("--no-cache", is_flag=True, help="Neither read nor write the prompt cache.")
@click.pass_context
def say(
    ctx: click.Context,
    text: str,
    output: str,
    engine: str | None,
    rate: str | None,
    speaking_rate: float | None,
    no_cache: bool,
) -> None:
    """Synthesise TEXT to a WAV file, normalised and sentence by sentence as callers hear it."""
    import dataclasses
    import os
    import time
    from pathlib import Path

    from speech.audio import write_wav
    from speech.tts import (
        SpeechChunk,
        TtsError,
        create_tts_engine,
        join_chunks,
        synthesize_text,
    )

    if not text.strip():
        raise click.BadParameter("nothing to say: the text is empty", param_hint="TEXT")
    path = Path(output)
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.BadParameter(
            f"cannot create directory {str(directory)!r}: {exc.strerror or exc}",
            param_hint="--output",
        ) from exc
    if not os.access(directory, os.W_OK):
        raise click.BadParameter(
            f"directory {str(directory)!r} is not writable", param_hint="--output"
        )

    tts_config = config_of(ctx).tts
    if engine is not None:
        tts_config = dataclasses.replace(tts_config, engine=engine)  # type: ignore[arg-type]
    if speaking_rate is not None:
        tts_config = dataclasses.replace(tts_config, speaking_rate=speaking_rate)
    start = time.perf_counter()
    try:
        tts = create_tts_engine(tts_config, use_cache=not no_cache)
        loaded = time.perf_counter()
        out_rate = int(rate) if rate else tts.native_rate
        chunks: list[SpeechChunk] = []
        first_audio = 0.0
        for chunk in synthesize_text(tts, text, out_rate, cache=not no_cache):
            if not chunks:
                first_audio = time.perf_counter() - loaded
            chunks.append(chunk)
    except (TtsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not chunks:
        raise click.BadParameter(
            "nothing to say: the text has no speakable words", param_hint="TEXT"
        )
    audio = join_chunks(chunks, out_rate)
    try:
        write_wav(path, audio)
    except OSError as exc:
        raise click.ClickException(f"cannot write {str(path)!r}: {exc.strerror or exc}") from exc
    click.echo(
        f"wrote {path}: {audio.duration:.2f} s at {out_rate} Hz, {len(chunks)} sentence(s), "
        f"{tts.describe()}; load {loaded - start:.2f} s, first audio {first_audio:.2f} s, "
        f"synthesis {time.perf_counter() - loaded:.2f} s"
    )


COMMANDS.append(say)


@click.command("transcribe")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--engine",
    type=click.Choice(["auto", "whisper", "vosk"]),
    default=None,
    help="ASR engine (default: asr.engine from the configuration).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON with confidence, words, timing.")
@click.option(
    "--hint",
    "hints",
    multiple=True,
    metavar="PHRASE",
    help="Phrase expected in the audio (vosk grammar, whisper hotword); repeatable.",
)
@click.option("--no-vocabulary", is_flag=True, help="Do not bias toward the Rasa vocabulary.")
@click.pass_context
def transcribe(
    ctx: click.Context,
    file: str,
    engine: str | None,
    as_json: bool,
    hints: tuple[str, ...],
    no_vocabulary: bool,
) -> None:
    """Transcribe an audio FILE (any format, rate or channel count; telephone audio works)."""
    import dataclasses
    import json
    import time

    from ivr.vocabulary import load_vocabulary
    from speech.asr import AsrError, create_asr_engine, engine_name
    from speech.audio import AudioError, load_audio

    config = config_of(ctx)
    asr_config = config.asr
    if engine is not None:
        asr_config = dataclasses.replace(asr_config, engine=engine)  # type: ignore[arg-type]
    if no_vocabulary:
        asr_config = dataclasses.replace(asr_config, use_vocabulary=False)
    if engine_name(asr_config) == "vosk" and not asr_config.vosk_model:
        raise click.UsageError("--engine vosk needs asr.vosk_model (a vosk model directory)")
    try:
        audio = load_audio(file, max_seconds=asr_config.max_audio_s)
    except AudioError as exc:
        raise click.ClickException(str(exc)) from exc
    vocabulary = load_vocabulary(config.dialogue.project_dir) if asr_config.use_vocabulary else None
    started = time.perf_counter()
    try:
        asr = create_asr_engine(asr_config, vocabulary, word_timestamps=as_json)
        asr.load()
        loaded = time.perf_counter()
        result = asr.transcribe(audio, hints)
    except (AsrError, AudioError) as exc:
        raise click.ClickException(str(exc)) from exc
    finished = time.perf_counter()
    if not as_json:
        if result.text:
            click.echo(result.text)
        else:
            click.echo("(no speech recognised)", err=True)
        return
    elapsed = finished - loaded
    report = {
        "file": file,
        "engine": asr.name,
        "text": result.text,
        "confidence": result.confidence,
        "words": [dataclasses.asdict(word) for word in result.words],
        "audio_seconds": round(audio.duration, 3),
        "input_rate": audio.rate,
        "load_ms": round((loaded - started) * 1000),
        "transcribe_ms": round(elapsed * 1000),
        "real_time_factor": round(elapsed / audio.duration, 3) if audio.duration else None,
        "truncated": result.truncated,
        "vocabulary_terms": len(vocabulary.terms) if vocabulary else 0,
    }
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))


COMMANDS.append(transcribe)
