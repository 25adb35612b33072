"""The Prompts page against the repository's domain: every response is listed, a variation is
heard through the real piper voice over 8 kHz G.711 (speech, not silence, and as long as its
words), and the ear check warns about what a caller would stumble on and nothing else."""

from __future__ import annotations

import io
import re
import wave
from html import unescape
from pathlib import Path

import numpy as np
import yaml

from ivr.config import load_config
from ivr.console.action_fills import ANY, action_fills
from ivr.console.ear_check import ear_check
from ivr.console.flow_store import FlowStore
from ivr.console.flows import read_flows
from ivr.console.nlu_project import NluProject
from ivr.console.prompt_preview import PromptVoice, with_samples
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from speech.tts import create_tts_engine
from tests.console.conftest import ConsoleFactory, add_users, log_in
from tests.versions.conftest import trained_copy

REPOSITORY = Path(__file__).resolve().parents[2]
DOMAIN = yaml.safe_load((REPOSITORY / "dialogue" / "domain.yml").read_text())


async def test_the_page_lists_every_response_of_the_domain_and_hears_one_at_8_khz(
    make_client: ConsoleFactory, users: UserStore
) -> None:
    voice = PromptVoice(create_tts_engine(load_config(environ={}).tts, use_cache=False))
    client = await make_client(tools=CallTools(flows=FlowStore(REPOSITORY), prompt_voice=voice))
    add_users(users, "designer")
    assert (await log_in(client, "designer")).status == 303
    text = unescape(await (await client.get("/console/prompts")).text())
    assert set(re.findall(r"<h3>(utter_\w+)</h3>", text)) == set(DOMAIN["responses"])
    assert "Read-only: designers and admins edit the prompts of the designers' draft" in text
    assert "Save to the draft" not in text  # no draft on this server: nothing to edit
    assert 'src="/console/prompts/utter_auth_success/0.wav"' in text

    answer = await client.get("/console/prompts/utter_auth_success/0.wav")
    assert answer.status == 200 and answer.content_type == "audio/wav"
    with wave.open(io.BytesIO(await answer.read())) as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    spoken = with_samples(DOMAIN["responses"]["utter_auth_success"][0]["text"], DOMAIN["slots"])
    seconds, words = len(samples) / rate, len(spoken.split())
    assert rate == 8000
    assert 0.2 * words < seconds < 0.8 * words + 1.0, (seconds, spoken)
    assert np.sqrt(np.mean(samples**2)) > 300  # speech, not near-silence
    missing = await client.get("/console/prompts/utter_auth_success/9.wav")
    assert missing.status == 404


def test_the_ear_check_flags_what_a_caller_would_stumble_on() -> None:
    slots = DOMAIN["slots"]
    rambling = (
        "We have looked at your account and we can see that the payment you made last week"
        " was received by us but it has not yet been applied to the card balance you hold with us."
    )
    text = f"{rambling} Your code is 12345. You owe $1,200.50 by 9:30. Okay? Ready, {{nickname}}?"
    kinds = [warning.kind for warning in ear_check(text, slots)]
    assert kinds.count("long sentence") == 1
    assert kinds.count("questions") == 1
    assert kinds.count("reading") == 3
    assert kinds.count("placeholder") == 1
    warned = " ".join(warning.text for warning in ear_check(text, slots))
    assert "one two three four five" in warned and "{nickname}" in warned
    clean = "Thank you, {customer_name}. Your branch opens at nine a.m. Anything else?"
    assert ear_check(clean, slots) == []


def test_sample_values_are_made_up_and_fit_the_placeholder() -> None:
    filled = with_samples("{amount} on {due_date} in {city}, card {card_last4}", DOMAIN["slots"])
    assert filled == "$250.40 on December fifth in Springfield, card 4 3 2 1"


def test_placeholders_are_known_from_the_slots_and_from_what_the_actions_pass(
    tmp_path: Path,
) -> None:
    actions = tmp_path / "actions.py"
    actions.write_text(
        'FEES = "utter_fees"\n'
        "def run(dispatcher, fields):\n"
        '    dispatcher.utter_message(response="utter_balance", amount=1, last4="1234")\n'
        "    dispatcher.utter_message(response=FEES, fees=2)\n"
        '    dispatcher.utter_message(response="utter_hours", **fields)\n'
        '    dispatcher.utter_message(text="no response named")\n',
        encoding="utf-8",
    )
    fills = action_fills([actions])
    assert fills == {
        "utter_balance": {"amount", "last4"},
        "utter_fees": {"fees"},
        "utter_hours": {ANY},
    }
    said = "{amount} on card {last4}, {amonut}"
    warned = [w.text for w in ear_check(said, fills["utter_balance"]) if w.kind == "placeholder"]
    assert warned == ["{amonut}: no slot has this name and no action fills it"]
    assert ear_check("{anything}", fills["utter_hours"]) == []


def test_the_console_reads_the_domain_once_per_change_for_the_prompts_and_the_inbox(
    tmp_path: Path,
) -> None:
    project = trained_copy(tmp_path / "design")
    flows = FlowStore(project.root, code=REPOSITORY)
    inbox = NluProject(project.root, project, flows)
    assert "check_balance" in inbox.intents()
    assert flows.model() is flows.model()  # nothing changed: not read again
    assert flows.model().fills["utter_balance"] >= {"amount", "last4"}  # actions of the project
    domain = project.domain.read_text()
    project.domain.write_text(domain.replace("  - check_balance\n", "  - check_balances\n", 1))
    assert "check_balances" in inbox.intents() and "check_balance" not in inbox.intents()


def test_every_placeholder_of_the_repository_is_filled_by_a_slot_or_an_action() -> None:
    model = read_flows(REPOSITORY)
    unfilled = {
        name: warnings
        for name, variations in DOMAIN["responses"].items()
        for variation in variations
        if (
            warnings := [
                w.text
                for w in ear_check(
                    str(variation.get("text") or ""),
                    {*DOMAIN["slots"], *model.fills.get(name, ())},
                )
                if w.kind == "placeholder"
            ]
        )
    }
    assert unfilled == {}
