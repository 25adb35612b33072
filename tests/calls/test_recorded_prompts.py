"""A prompt recorded on the console is what a caller hears: a whole call through the CallSession
with the real engines and assistant, on a design folder whose greeting was recorded (made the
way the console stores an upload), plays the recording's very samples, not the voice."""

from __future__ import annotations

import dataclasses
import io
import wave
from pathlib import Path

import pytest
import yaml

from ivr.console.prompt_upload import phone_recording
from ivr.services import Services
from ivr.versions.files import RECORDINGS_INDEX
from ivr.versions.recordings import Recording, index_text, recording_file
from speech.audio import wav_bytes
from tests.calls.conftest import loopback_call
from tests.speech.corpus import piper
from tests.versions.conftest import REPO, trained_copy

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="session")]

GREETING = yaml.safe_load((REPO / "dialogue" / "domain.yml").read_text())["responses"][
    "utter_greet"
][0]["text"]


def studio_take(voice, text: str) -> bytes:
    """A "voice talent's" take: piper, slower than the bot's own voice, as a 22 kHz WAV."""
    return wav_bytes(piper(voice, text, length_scale=1.35))


@pytest.fixture(scope="module")
def recorded_design(tmp_path_factory: pytest.TempPathFactory, voice) -> tuple[Path, bytes]:
    """The repository's design files with the greeting recorded (the model a stand-in: the shared
    assistant runs the real one); the recording's PCM."""
    root = tmp_path_factory.mktemp("recorded") / "design"
    trained_copy(root)  # the shared assistant runs the same domain and model
    wav = phone_recording(studio_take(voice, GREETING))
    recording = Recording("utter_greet", 0, recording_file("utter_greet", 0, wav), GREETING)
    (root / recording.path).parent.mkdir()
    (root / recording.path).write_bytes(wav)
    (root / RECORDINGS_INDEX).write_text(index_text([recording]))
    with wave.open(io.BytesIO(wav)) as take:
        return root, take.readframes(take.getnframes())


@pytest.fixture
def recorded_services(services: Services, recorded_design) -> Services:
    """The shared engines, stores and assistant, the call's design folder the recorded one (its
    domain and model are the repository's, which the shared assistant runs)."""
    root, _ = recorded_design
    config = services.config
    dialogue = dataclasses.replace(config.dialogue, project_dir=str(root))
    return dataclasses.replace(services, config=dataclasses.replace(config, dialogue=dialogue))


async def test_the_caller_hears_the_recorded_greeting_instead_of_the_voice(
    recorded_services: Services, recorded_design
) -> None:
    services = recorded_services
    _, recorded = recorded_design
    async with loopback_call(services) as (call, _):
        greeting = await call.wait_for_bot_silence(quiet_s=1.6, timeout_s=90)
    assert recorded in greeting  # the recording's own samples, not a synthesis of its words
    spoken = greeting.strip(b"\0")
    assert len(spoken) <= len(recorded) + 8000 * 2 * 0.1  # nothing synthesised besides it
    assert len(services.recorded_prompts("any-call")) == 1
