"""`ivr say` output, at telephone rate, transcribes back to its own text."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr.cli import main
from speech.asr.scoring import word_error_rate
from speech.audio import load_audio

PROMPTS = (
    "Thanks for calling. Please say or key in your eight digit account number.",
    "Your checking account has a balance of $2,450.75.",
    "I have blocked your card ending in 4821. Your reference number is 5 5 1 2.",
    "Your minimum payment of $25 is due on December 4th.",
    "Would you like me to transfer you to an agent?",
)


@pytest.mark.slow
def test_say_output_transcribes_back_to_its_text(tmp_path: Path, whisper_engine) -> None:
    runner = CliRunner()
    references, hypotheses = [], []
    for index, text in enumerate(PROMPTS):
        out = tmp_path / f"prompt{index}.wav"
        result = runner.invoke(
            main,
            [
                "--set",
                f"tts.cache_dir={tmp_path}/cache",
                "say",
                text,
                "-o",
                str(out),
                "--rate",
                "8000",
            ],
        )
        assert result.exit_code == 0, result.output
        audio = load_audio(out)
        assert audio.rate == 8000
        references.append(text)
        hypotheses.append(whisper_engine.transcribe(audio).text)
    wer = word_error_rate(references, hypotheses)
    print(f"[say-round-trip] WER {wer.wer:.1%} over {wer.words} words")
    assert wer.wer <= 0.10, list(zip(references, hypotheses, strict=True))
