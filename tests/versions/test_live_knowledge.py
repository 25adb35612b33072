"""A fact saved on the FAQ facts page reaches a running bot without retraining, call by call.

The real trained model and the real assistant (``dialogue.client.make_client`` behind
``VersionedDialogue``, as ``ivr.services.dialogue_client`` builds it): a caller asks when the
branches are open and hears the published hours; a designer changes the weekday hours through
the page's form functions; the draft needs no training and is published; the caller still on
the line asks again and hears the hours their call began with; the next caller hears the new.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from dialogue.client import make_client
from ivr.config import load_config
from ivr.console.facts_edit import save
from ivr.console.facts_form import edit_of, from_file
from ivr.console.facts_groups import GROUPS
from ivr.versions.draft import Draft
from ivr.versions.live import VersionedDialogue
from ivr.versions.store import VersionStore
from ivr.versions.workspace import DRAFT_DIR
from tests.versions.conftest import REPO, passing_report, trained_copy

OLD_HOURS = "Monday to Friday from 9 AM to 5 PM"
NEW_HOURS = "Monday to Friday from 8:30 AM to 6 PM"
QUESTION = "when are you open"


def model_digest(draft_or_version_root: Path) -> str:
    return hashlib.sha256(
        (draft_or_version_root / "models/dialogue.tar.gz").read_bytes()
    ).hexdigest()


async def test_new_hours_reach_the_next_call_without_retraining(tmp_path: Path) -> None:
    project = trained_copy(tmp_path / "project", model=REPO / "models" / "dialogue.tar.gz")
    store = VersionStore(tmp_path / "design")
    draft = Draft(store.root / DRAFT_DIR, store, project)
    draft.ensure(author="alice")
    store.publish(1, by="alice")
    config = load_config(
        overrides=[f"dialogue.project_dir={REPO}", f"bank.database=sqlite:///{tmp_path}/bank.db"],
        environ={},
    )
    dialogue = VersionedDialogue(
        config.dialogue,
        config.bank,
        store,
        lambda settings, bank: make_client(settings, bank, pepper=bytes(range(32))),
        watch_s=3600,  # the test switches with check(), as the watcher would
    )
    await dialogue.start()
    try:
        await dialogue.begin("caller-1")
        first = await dialogue.send("caller-1", QUESTION)
        assert first.intent == "branch_hours", first
        assert OLD_HOURS in first.text

        group = GROUPS["hours"]
        form = from_file(group, draft.read(group.file))
        form.single.update({"p0.opens": "08:30", "p0.closes": "6 PM"})
        edit = edit_of(form)
        assert edit is not None, form.errors
        save(draft, edit, author="designer")
        assert not draft.needs_training()
        draft.save_report(passing_report(draft))
        version = draft.publish(author="designer", message="longer weekday hours")
        assert model_digest(version.path) == model_digest(store.get(1).path)  # not retrained

        await dialogue.check()
        assert dialogue.version == version.number
        again = await dialogue.send("caller-1", QUESTION)
        assert dialogue.version_of("caller-1") == 1
        assert again.intent == "branch_hours", again
        assert OLD_HOURS in again.text and NEW_HOURS not in again.text

        await dialogue.begin("caller-2")
        second = await dialogue.send("caller-2", QUESTION)
        assert dialogue.version_of("caller-2") == version.number
        assert NEW_HOURS in second.text, second.text
        await dialogue.end("caller-1")
        await dialogue.end("caller-2")
    finally:
        await dialogue.close()
