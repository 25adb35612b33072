"""QA without engines: caller scripts, recordings, response matching, scores, CLI errors."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from ivr.cli import main
from ivr.config import QA_BRIDGES, load_config
from ivr.qa.compare import ResponseCatalog, compare_turns
from ivr.qa.evaluate import score
from ivr.qa.lines import BRIDGES
from ivr.qa.replay import ReplayError, caller_channel, find_recordings
from ivr.qa.results import CallResult, load_results
from ivr.qa.script import ScriptError, load_script, load_scripts
from ivr.qa.voice import CallerVoice, configured_voice
from speech.audio import write_wav_channels

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "data" / "qa"
FLOWS = {
    "check_balance",
    "recent_transactions",
    "transfer_money",
    "report_lost_card",
    "report_fraud",
    "branch_hours",
    "branch_locations",
    "interest_rates",
    "fees",
    "complaint",
    "talk_to_agent",
}


def test_the_shipped_suite_covers_every_flow() -> None:
    scripts = load_scripts([SUITE])
    assert len(scripts) >= 10
    intents = {s.intent for script in scripts for s in script.steps if s.intent}
    assert intents >= FLOWS, FLOWS - intents
    outcomes = {script.outcome for script in scripts}
    assert {"self_served", "handed_off", "abandoned"} <= outcomes
    actions = {s.action for script in scripts for s in script.steps}
    assert actions == {"say", "press", "pin", "wait", "hang_up"}
    assert any(s.bot and "feedback" in s.bot for script in scripts for s in script.steps)


def test_a_pin_step_is_never_shown_and_account_numbers_are_masked() -> None:
    script = load_script(SUITE / "balance.yml")
    shown = [s.shown for s in script.steps]
    assert "pin: ****" in shown and "2468" not in " ".join(shown)
    assert "press: ****5926" in shown
    assert script.secrets == ("2468",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("steps:\n  - say: hi\n    shout: loud\n", "s.yml:2: shout: unknown step field"),
        ("steps:\n  - press: 12ab\n", "s.yml:2: press: must be keypad keys"),
        ("steps:\n  - say: hi\n    bot: '(unclosed'\n", "s.yml:2: bot: not a valid regular"),
        ("steps:\n  - say: hi\n    press: '1'\n", "s.yml:2: step: needs exactly one of"),
        ("steps:\n  - wait: forever\n", "s.yml:2: wait: must be seconds"),
        ("steps: []\n", "s.yml:1: steps: must be a non-empty list"),
        ("steps:\n  - hang_up: true\nexpect:\n  outcome: happy\n", "s.yml:4: outcome: must be"),
        ("caller: {engine: siri}\nsteps:\n  - hang_up: true\n", "s.yml:1: engine: must be"),
        ("steps:\n  - say: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_malformed_script_is_refused_naming_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "s.yml"
    path.write_text(text)
    with pytest.raises(ScriptError) as error:
        load_script(path)
    assert message in str(error.value)


def test_missing_script_and_empty_folder_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ScriptError, match="no such script file"):
        load_script(tmp_path / "nope.yml")
    with pytest.raises(ScriptError, match=r"no \.yml scripts"):
        load_scripts([tmp_path])


def test_simulate_cli_names_the_broken_script(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("steps:\n  - say: hello\n    intent: 42\n")
    result = CliRunner().invoke(main, ["simulate", str(bad)])
    assert result.exit_code != 0
    assert "bad.yml:2: intent: must be text" in result.output


def test_simulate_without_a_script_runs_those_in_qa_scripts_dir(tmp_path: Path) -> None:
    (tmp_path / "mine.yml").write_text("steps:\n  - say: hello\n    intent: 42\n")
    result = CliRunner().invoke(main, ["--set", f"qa.scripts_dir={tmp_path}", "simulate"])
    assert result.exit_code != 0
    assert "mine.yml:2: intent: must be text" in result.output


def test_qa_caller_settings_voice_every_caller_a_script_leaves_unset(tmp_path: Path) -> None:
    (tmp_path / "a_plain.yml").write_text("steps:\n  - say: hello\n")
    (tmp_path / "b_slow.yml").write_text("caller: {rate: 0.8}\nsteps:\n  - say: hello\n")
    settings = ["qa.caller_engine=espeak", "qa.caller_rate=1.3", "qa.caller_snr_db=20"]
    qa = load_config(overrides=settings, environ={}).qa
    plain, slow = load_scripts([tmp_path], configured_voice(qa))
    assert plain.voice == CallerVoice(engine="espeak", rate=1.3, snr_db=20.0)
    assert slow.voice == CallerVoice(engine="espeak", rate=0.8, snr_db=20.0)
    default = configured_voice(load_config(environ={}).qa)
    assert load_scripts([tmp_path / "a_plain.yml"], default)[0].voice == CallerVoice()


def test_caller_channel_takes_the_left_channel_at_the_call_rate(tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(rate) / rate
    left = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    path = tmp_path / "call.wav"
    write_wav_channels(path, [left, np.zeros(rate, np.int16)], rate)
    pcm = np.frombuffer(caller_channel(path, 8000), "<i2")
    assert len(pcm) == 8000 and np.abs(pcm).max() > 6000
    spectrum = np.abs(np.fft.rfft(pcm.astype(float)))
    assert abs(np.argmax(spectrum) - 440) <= 2  # 1 Hz bins over one second


def test_unreadable_recordings_are_clear_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.wav"
    text.write_text("not audio")
    with pytest.raises(ReplayError, match=r"notes\.wav: not a readable PCM WAV"):
        caller_channel(text, 8000)
    wide = tmp_path / "wide.wav"
    with wave.open(str(wide), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(3)
        out.setframerate(8000)
        out.writeframes(bytes(300))
    with pytest.raises(ReplayError, match="24-bit samples"):
        caller_channel(wide, 8000)
    with pytest.raises(ReplayError, match="no such file or folder"):
        find_recordings([tmp_path / "missing.wav"])
    result = CliRunner().invoke(main, ["replay", str(tmp_path / "missing.wav")])
    assert result.exit_code != 0 and "missing.wav: no such file" in result.output


def test_bot_words_compare_by_response_not_by_variation_or_amount() -> None:
    catalog = ResponseCatalog.from_domain(ROOT / "dialogue" / "domain.yml")
    one = "One moment, I'm connecting you to an agent."
    other = "I'm transferring you to an agent now. Please stay on the line."
    assert catalog.canonical(one) == catalog.canonical(other) == "<utter_handoff>"
    rich = "Your checking account ending 5 9 2 6 has a balance of 2,450 dollars and 75 cents."
    poorer = "Your checking account ending 5 9 2 6 has a balance of 2,350 dollars and 75 cents."
    assert catalog.canonical(rich) == catalog.canonical(poorer)
    edited = "Thanks for calling Town Bank. How can I help you today?"
    greeting = (
        "Thanks for calling City Bank. This call may be recorded for quality purposes. "
        "How can I help you today?"
    )
    assert catalog.canonical(edited) != catalog.canonical(greeting)

    turn = {"input_kind": "speech", "transcript": "hi", "intent": "greet", "entities": "[]"}
    diffs = compare_turns(
        [{**turn, "bot_text": greeting}],
        [{**turn, "bot_text": edited}, {**turn, "bot_text": greeting}],
        catalog,
    )
    assert [d.field for d in diffs] == ["bot", "turns"]


def _turn(**values: object) -> dict[str, object]:
    base = {"reference": None, "expected_intent": None, "response_ms": None, "transcript": ""}
    return {**base, **values}


def test_scores_come_from_the_turns() -> None:
    good = CallResult("a", "a.yml", "simulate", outcome="self_served")
    good.turns = [
        _turn(
            reference="check my balance",
            transcript="check my balance",
            intent="check_balance",
            expected_intent="check_balance",
            response_ms=800.0,
        ),
        _turn(
            reference="no thanks",
            transcript="no tanks",
            intent="deny",
            expected_intent="affirm",
            response_ms=1200.0,
        ),
    ]
    handed = CallResult("b", "b.yml", "simulate", outcome="handed_off", handoff="caller_request")
    s = score(good, handed)
    assert s.wer == pytest.approx(1 / 5) and s.wer_words == 5
    assert s.intent_accuracy == 0.5 and s.intent_turns == 2
    assert s.containment == 0.5 and s.handoff_rate == 0.5 and s.abandonment_rate == 0.0
    assert s.latency_p50_ms == 1000.0 and s.task_success == 1.0


def test_eval_refuses_what_is_not_a_results_file(tmp_path: Path) -> None:
    junk = tmp_path / "results.json"
    junk.write_text('{"calls": []}')
    with pytest.raises(ValueError, match="not a results file of ivr simulate or ivr replay"):
        load_results(junk)
    result = CliRunner().invoke(main, ["eval", str(tmp_path)])
    assert result.exit_code != 0 and "not a results file" in result.output


def test_every_configurable_bridge_is_registered() -> None:
    assert tuple(BRIDGES) == QA_BRIDGES


def test_a_festival_caller_is_heard_by_the_recogniser_over_the_phone_line() -> None:
    """The third voice family: Festival speaks over the 8 kHz G.711 line, slower when asked,
    and whisper writes what it said; an unknown Festival voice is a clear error."""
    from ivr.qa.voice import FESTIVAL_VOICES, VoiceError, speak
    from speech.asr.scoring import word_error_rate
    from speech.asr.whisper import WhisperEngine

    text = "I would like to check my balance please."
    engine = WhisperEngine()
    for name in FESTIVAL_VOICES:
        natural = speak(CallerVoice(engine="festival", voice=name), text, seed=1)
        slow = speak(CallerVoice(engine="festival", voice=name, rate=0.8), text, seed=1)
        assert natural.rate == 8000 and slow.duration > natural.duration * 1.1, name
        heard = engine.transcribe(natural).text
        assert word_error_rate([text], [heard]).wer <= 0.34, (name, heard)
    with pytest.raises(VoiceError, match="unknown Festival voice"):
        speak(CallerVoice(engine="festival", voice="en-gb+f2"), text)


def test_a_caller_says_the_same_words_the_same_way_in_every_run() -> None:
    """A failed QA call can be run again exactly: each voice family renders a line identically,
    whatever was said before it in the process (espeak-ng and piper carry state or sample noise
    from one rendering to the next unless told not to), while a benchmark's varied piper still
    varies; an unknown espeak-ng voice is a clear error."""
    from ivr.qa.voice import VoiceError, render

    for voice in (
        CallerVoice(engine="piper"),
        CallerVoice(engine="espeak", voice="en-gb+f2", rate=0.9),
        CallerVoice(engine="festival", voice="cmu_us_slt_arctic_hts"),
    ):
        first = render(voice, "nah")
        render(voice, "Yeah, sure. Go on then.")
        again = render(voice, "nah")
        assert first.pcm == again.pcm and first.duration > 0.2, voice
    varied = CallerVoice(engine="piper", varied=True)
    assert len({render(varied, "nah").pcm for _ in range(3)}) == 3
    with pytest.raises(VoiceError, match=r"espeak-ng voice zz-nowhere failed: .*does not exist"):
        render(CallerVoice(engine="espeak", voice="zz-nowhere"), "nah")
