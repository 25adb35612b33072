"""Editing the draft's prompts on the Prompts page, through the real console, the real draft (a
copy of the repository's design under tmp) and the real piper voice: a save changes only that
prompt's line in the draft, two designers editing different prompts both succeed and the same
one conflicts, unknown placeholders are refused, QA reads only, "Hear it" is real audio, and a
recording is converted, stored in the draft, bounded and refused when it is not a WAV."""

from __future__ import annotations

import difflib
import io
import re
import wave
from html import unescape

import numpy as np
import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from ivr.config import load_config
from ivr.console.audit import DESIGN_EDIT, AuditLog
from ivr.console.flow_store import FlowStore
from ivr.console.prompt_preview import PromptVoice
from ivr.console.state import CallTools
from ivr.console.users import UserStore
from ivr.versions.draft import Draft
from ivr.versions.files import DesignPathError, check_path, design_files
from ivr.versions.recordings import read_recordings
from ivr.versions.workspace import Workspace
from speech.audio import Audio, rms_dbfs, wav_bytes
from speech.tts import TtsEngine, create_tts_engine
from tests.console.conftest import Clock, ConsoleFactory, add_users, log_in, post_form, token_in
from tests.versions.conftest import REPO

PROMPTS = "/console/prompts"
DOMAIN = "dialogue/domain.yml"


@pytest.fixture(scope="module")
def tts() -> TtsEngine:
    return create_tts_engine(load_config(environ={}).tts, use_cache=False)


@pytest.fixture
def draft(workspace: Workspace) -> Draft:
    """The designers' draft of a copy of the repository's design (``copy_workspace``)."""
    return workspace.draft


@pytest.fixture
async def client(
    make_client: ConsoleFactory, users: UserStore, workspace: Workspace, tts: TtsEngine
) -> TestClient:
    add_users(users, "designer", "admin", "qa")
    tools = CallTools(
        flows=FlowStore(workspace.draft.root, code=REPO),
        prompt_voice=PromptVoice(tts),
        workspace=workspace,
    )
    return await make_client(tools=tools)


def seen_of(page: str, response: str, index: int) -> str:
    """The digest the variation's edit form carries."""
    action = f'action="{PROMPTS}/{response}/{index}"'
    form = page[page.index(action) :]
    return re.search(r'name="seen" value="([0-9a-f]+)"', form).group(1)


async def edit(client: TestClient, response: str, index: int, text: str, seen: str = ""):
    page = await (await client.get(PROMPTS)).text()
    return await post_form(
        client,
        PROMPTS,
        f"{PROMPTS}/{response}/{index}",
        text=text,
        seen=seen or seen_of(page, response, index),
    )


def audit_rows(users: UserStore, clock: Clock) -> list[tuple[str, str, str, str]]:
    entries = AuditLog(users.db, clock).page(None, 50).rows
    return [(e.actor, e.action, e.target, e.detail) for e in entries if e.action == DESIGN_EDIT]


async def test_a_designer_edits_one_prompt_of_the_draft_and_only_its_line_changes(
    client: TestClient, draft: Draft, users: UserStore, clock: Clock
) -> None:
    before = draft.read(DOMAIN)
    project_domain = (draft.source_project.root / DOMAIN).read_text()
    await log_in(client, "designer")
    new = "Hi there. How can I help you today, {customer_name}?"
    answer = await edit(client, "utter_greet_again", 1, new)
    assert answer.status == 303
    assert answer.headers["Location"] == f"{PROMPTS}#utter_greet_again-1"

    after = draft.read(DOMAIN)
    changed = [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [
        '-    - text: "Hi. How can I help?"',
        f'+    - text: "{new}"',
    ]
    assert (draft.source_project.root / DOMAIN).read_text() == project_domain
    assert (REPO / DOMAIN).read_text() == project_domain
    assert DOMAIN in [change.path for change in draft.changes()]
    wrapped = await edit(client, "utter_greet_again", 0, "Hello again.\r\nHow may I help?")
    assert wrapped.status == 303
    assert '- text: "Hello again. How may I help?"' in draft.read(DOMAIN)
    page = unescape(await (await client.get(PROMPTS)).text())
    assert new in page
    unchanged = await edit(client, "utter_greet_again", 1, new)
    assert unchanged.status == 303
    assert sorted(audit_rows(users, clock)) == [
        ("designer", DESIGN_EDIT, "utter_greet_again", "variation 0"),
        ("designer", DESIGN_EDIT, "utter_greet_again", "variation 1"),
    ]


async def test_different_prompts_both_save_and_the_same_prompt_shows_theirs_and_yours(
    client: TestClient, draft: Draft, users: UserStore
) -> None:
    await log_in(client, "designer")
    opened = await (await client.get(PROMPTS)).text()
    first, second = seen_of(opened, "utter_greet_again", 0), seen_of(opened, "utter_greet_again", 1)
    mine = await edit(client, "utter_greet_again", 0, "Hello again. What can I do?", first)
    theirs = await edit(client, "utter_greet_again", 1, "Hi. What do you need?", second)
    assert (mine.status, theirs.status) == (303, 303)
    domain = draft.read(DOMAIN)
    assert "Hello again. What can I do?" in domain and "Hi. What do you need?" in domain

    late = await edit(client, "utter_greet_again", 0, "Welcome back. How can I help?", first)
    assert late.status == 409
    text = unescape(await late.text())
    assert "Someone changed this prompt" in text
    assert "Hello again. What can I do?" in text and "Welcome back. How can I help?" in text
    assert "Welcome back" not in draft.read(DOMAIN)
    # Saving from the conflict page (it carries theirs as seen) replaces theirs knowingly.
    again = await edit(
        client,
        "utter_greet_again",
        0,
        "Welcome back. How can I help?",
        seen_of(text, "utter_greet_again", 0),
    )
    assert again.status == 303 and "Welcome back. How can I help?" in draft.read(DOMAIN)


async def test_unknown_placeholders_are_refused_and_known_ones_are_saved(
    client: TestClient, draft: Draft
) -> None:
    await log_in(client, "designer")
    before = draft.read(DOMAIN)
    refused = await edit(client, "utter_greet_again", 0, "Hello again, {nickname}.")
    assert refused.status == 400
    text = unescape(await refused.text())
    assert "{nickname}: no slot has this name" in text
    assert "Hello again, {nickname}." in text  # the designer's text is kept to mend
    empty = await edit(client, "utter_greet_again", 0, "   ")
    assert empty.status == 400 and "empty" in await empty.text()
    too_long = await edit(client, "utter_greet_again", 0, "word " * 200)
    assert too_long.status == 400 and "at most 600" in await too_long.text()
    assert draft.read(DOMAIN) == before
    # {amount} and {last4} are given by the action that says utter_balance.
    saved = await edit(client, "utter_balance", 0, "Your balance is {amount}, card {last4}.")
    assert saved.status == 303
    assert '"Your balance is {amount}, card {last4}."' in draft.read(DOMAIN)


async def test_qa_reads_the_prompts_but_may_not_edit_hear_or_upload(
    client: TestClient, draft: Draft
) -> None:
    await log_in(client, "qa")
    page = await (await client.get(PROMPTS)).text()
    assert "<h3>utter_greet</h3>" in page
    assert "Save to the draft" not in page and "Read-only" in page
    before = draft.read(DOMAIN)
    for action, fields in (
        (f"{PROMPTS}/utter_greet_again/0", {"text": "Hi.", "seen": "0" * 16}),
        (f"{PROMPTS}/hear.wav", {"text": "Hi."}),
        (f"{PROMPTS}/utter_greet_again/0/recording/remove", {}),
    ):
        assert (await post_form(client, PROMPTS, action, **fields)).status == 403
    upload = await send_recording(client, "utter_greet_again", 0, b"RIFF", token_in(page))
    assert upload.status == 403
    assert draft.read(DOMAIN) == before


async def test_hear_it_returns_the_typed_text_as_8_khz_speech(client: TestClient) -> None:
    await log_in(client, "designer")
    page = await (await client.get(PROMPTS)).text()
    assert 'src="/console/static/prompts.js"' in page and 'class="hear"' in page
    answer = await post_form(
        client, PROMPTS, f"{PROMPTS}/hear.wav", text="Your balance is {amount}. Anything else?"
    )
    assert answer.status == 200 and answer.content_type == "audio/wav"
    body = await answer.read()
    assert body[:4] == b"RIFF"
    with wave.open(io.BytesIO(body)) as wav:
        rate, frames = wav.getframerate(), wav.readframes(wav.getnframes())
    assert rate == 8000 and len(frames) / 2 / rate > 1.5
    assert rms_dbfs(frames) > -35  # speech, not silence
    too_long = await post_form(client, PROMPTS, f"{PROMPTS}/hear.wav", text="word " * 200)
    assert too_long.status == 400


def speech_wav(tts: TtsEngine, text: str, rate: int = 22050, channels: int = 2) -> bytes:
    """``text`` spoken by piper as a studio WAV: ``rate``, ``channels`` channels."""
    audio = tts.render(text, rate, cacheable=False)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.repeat(audio.samples, channels).astype("<i2").tobytes())
    return out.getvalue()


async def send_recording(
    client: TestClient, response: str, index: int, data: bytes, token: str, seen: str = ""
):
    form = FormData()
    form.add_field("csrf_token", token)
    form.add_field("seen", seen)
    form.add_field("audio", data, filename="take1.wav", content_type="audio/wav")
    return await client.post(
        f"{PROMPTS}/{response}/{index}/recording", data=form, allow_redirects=False
    )


async def test_a_recording_is_made_8_khz_mono_and_kept_in_the_draft(
    client: TestClient, draft: Draft, tts: TtsEngine, users: UserStore, clock: Clock
) -> None:
    await log_in(client, "designer")
    page = await (await client.get(PROMPTS)).text()
    token, seen = token_in(page), seen_of(page, "utter_you_are_welcome", 0)
    studio = speech_wav(tts, "You're welcome.")
    answer = await send_recording(client, "utter_you_are_welcome", 0, studio, token, seen)
    assert answer.status == 303

    [recording] = read_recordings(draft.root)
    assert (recording.response, recording.variation, recording.text) == (
        "utter_you_are_welcome",
        0,
        "You're welcome.",
    )
    assert recording.path in design_files(draft.root)
    with wave.open(str(draft.root / recording.path)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        seconds = wav.getnframes() / 8000
    with wave.open(io.BytesIO(studio)) as original:
        assert seconds == pytest.approx(original.getnframes() / 22050, abs=0.01)
    page = unescape(await (await client.get(PROMPTS)).text())
    assert "recording: callers hear it instead of the voice" in page
    heard = await client.get(f"{PROMPTS}/utter_you_are_welcome/0/recording.wav")
    assert heard.status == 200 and (await heard.read())[:4] == b"RIFF"

    # Uploading again replaces the file; removing takes both the entry and the file away.
    again = speech_wav(tts, "You're welcome.", rate=16000, channels=1)
    assert (
        await send_recording(client, "utter_you_are_welcome", 0, again, token, seen)
    ).status == 303
    [replacement] = read_recordings(draft.root)
    assert replacement.file != recording.file and not (draft.root / recording.path).exists()
    removed = await post_form(
        client, PROMPTS, f"{PROMPTS}/utter_you_are_welcome/0/recording/remove"
    )
    assert removed.status == 303
    assert read_recordings(draft.root) == [] and not (draft.root / replacement.path).exists()
    assert sorted(row[3] for row in audit_rows(users, clock)) == [
        "variation 0 recording removed",
        "variation 0 recording uploaded",
        "variation 0 recording uploaded",
    ]


async def test_an_upload_that_is_not_a_usable_wav_is_refused_with_a_sentence(
    client: TestClient, draft: Draft, tts: TtsEngine
) -> None:
    await log_in(client, "designer")
    page = await (await client.get(PROMPTS)).text()
    token, seen = token_in(page), seen_of(page, "utter_you_are_welcome", 0)
    silent = wav_bytes(Audio(np.zeros(8000, dtype=np.int16), 8000))
    compressed = bytearray(speech_wav(tts, "Hello.", channels=1))
    compressed[20:22] = (85).to_bytes(2, "little")  # format tag: MPEG layer 3
    long_take = wav_bytes(Audio(np.full(8000 * 31, 1000, dtype=np.int16), 8000))
    for data, why in (
        (b"ID3\x04 an mp3 file" + bytes(200), "not a WAV recording"),
        (silent, "silent"),
        (bytes(compressed), "cannot be used"),
        (long_take, "at most 30 seconds"),
    ):
        answer = await send_recording(client, "utter_you_are_welcome", 0, data, token, seen)
        assert answer.status == 400, why
        assert why in unescape(await answer.text())
    huge = await send_recording(
        client, "utter_you_are_welcome", 0, b"RIFF" + bytes(6 * 1024 * 1024), token, seen
    )
    assert huge.status == 413
    stale = await send_recording(
        client, "utter_you_are_welcome", 0, speech_wav(tts, "Hi."), token, "0" * 16
    )
    assert stale.status == 409 and "Someone changed this prompt" in unescape(await stale.text())
    assert read_recordings(draft.root) == []
    assert not (draft.root / "dialogue" / "recordings").exists() or not any(
        (draft.root / "dialogue" / "recordings").glob("*.wav")
    )


def test_only_the_recordings_folder_holds_audio_among_the_design_files() -> None:
    assert check_path("dialogue/recordings/utter_greet-0-0123456789ab.wav")
    assert check_path("dialogue/recordings/index.yml") == "dialogue/recordings/index.yml"
    for path in (
        "data/nlu/voice.wav",
        "dialogue/recordings/sub/x.wav",
        "dialogue/recordings/../domain.yml",
        "dialogue/recordings/.x.wav",
        "dialogue/recordings/other.yml",
        "dialogue/greeting.wav",
    ):
        with pytest.raises(DesignPathError):
            check_path(path)
