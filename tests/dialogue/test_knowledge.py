"""FAQ knowledge files: what designers edit is read, checked and matched as callers say it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from dialogue.knowledge import KnowledgeBase, KnowledgeError, load_knowledge
from tests.dialogue.conftest import KNOWLEDGE


def test_cities_fees_and_complaint_categories_match_what_callers_say() -> None:
    knowledge = load_knowledge(KNOWLEDGE)
    assert knowledge.city("SF") is not None and knowledge.city("sf").name == "San Francisco"  # type: ignore[union-attr]
    assert knowledge.city("Denver") is None
    assert [f.topic for f in knowledge.fees_for("how much is the overdraft fee")] == ["overdraft"]
    assert knowledge.fees_for("tell me everything") == []
    assert knowledge.complaint_category("the app keeps crashing").key == "online"
    assert knowledge.complaint_category("it's complicated").key == "other"
    assert knowledge.is_frustrated("oh this is RIDICULOUS")
    assert not knowledge.is_frustrated("i'd like my balance")
    assert set(knowledge.rates) == {"savings", "checking", "credit"}


def test_a_broken_file_is_reported_with_its_name_and_key(tmp_path: Path) -> None:
    shutil.copytree(KNOWLEDGE, tmp_path / "k")
    (tmp_path / "k" / "rates.yml").write_text("products:\n  savings: {rate: 3}\n")
    with pytest.raises(KnowledgeError, match=r"rates.yml: products.savings: missing key 'say'"):
        load_knowledge(tmp_path / "k")


def test_edits_are_picked_up_without_a_restart(tmp_path: Path) -> None:
    shutil.copytree(KNOWLEDGE, tmp_path / "k")
    base = KnowledgeBase(tmp_path / "k")
    assert "9 AM to 5 PM" in base.get().branch_hours
    hours = tmp_path / "k" / "hours.yml"
    hours.write_text(hours.read_text().replace("9 AM to 5 PM", "8 AM to 6 PM"))
    import os

    os.utime(hours, (hours.stat().st_atime, hours.stat().st_mtime + 5))
    assert "8 AM to 6 PM" in base.get().branch_hours
