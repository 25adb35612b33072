"""Train-if-stale: what the fingerprint covers (and what it must not)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from dialogue.settings import DialogueConfig
from dialogue.training import Project, fingerprint, is_stale, saved_fingerprint
from tests.dialogue.conftest import ROOT


def copy_project(tmp_path: Path) -> Project:
    for rel in ("dialogue/domain.yml", "dialogue/config.yml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, tmp_path / rel)
    for folder in ("data/nlu", "data/rules", "data/stories", "data/knowledge"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return Project(root=tmp_path, model_dir=tmp_path / "models")


def mark_trained(project: Project) -> None:
    project.model_dir.mkdir(exist_ok=True)
    project.model_path.write_bytes(b"model")
    project.fingerprint_path.write_text(json.dumps({"fingerprint": fingerprint(project)}))


def test_model_is_stale_until_trained_then_up_to_date(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    assert is_stale(project) and saved_fingerprint(project) is None
    mark_trained(project)
    assert not is_stale(project)
    assert project.model_path.name == "dialogue.tar.gz"


def test_any_change_to_domain_config_or_training_data_makes_it_stale(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    for rel in (
        "dialogue/domain.yml",
        "dialogue/config.yml",
        "data/nlu/faq.yml",
        "data/rules/cards.yml",
        "data/stories/self_service.yml",
    ):
        mark_trained(project)
        path = tmp_path / rel
        path.write_text(path.read_text() + "\n# edited\n")
        assert is_stale(project), rel
    mark_trained(project)
    (tmp_path / "data/nlu/extra.yml").write_text('version: "3.1"\nnlu: []\n')
    assert is_stale(project), "a new training file"


def test_knowledge_and_seed_edits_need_no_retraining(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    mark_trained(project)
    hours = tmp_path / "data/knowledge/hours.yml"
    hours.write_text(hours.read_text().replace("9 AM", "8 AM"))
    assert not is_stale(project)
    assert all("knowledge" not in str(p.relative_to(tmp_path)) for p in project.training_data())


def test_model_dir_and_model_name_are_where_the_model_is_looked_for(tmp_path: Path) -> None:
    copy_project(tmp_path)
    named = Project.from_config(
        DialogueConfig(project_dir=str(tmp_path), model_dir="trained", model_name="bank-bot")
    )
    mark_trained(named)
    assert (tmp_path / "trained" / "bank-bot.tar.gz").is_file()
    assert not is_stale(named)
    assert is_stale(Project.from_config(DialogueConfig(project_dir=str(tmp_path))))
