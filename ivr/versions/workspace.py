"""The draft and the versions of one configuration, found where ``design.dir`` says."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dialogue.training import Project
from ivr.config import Config
from ivr.versions.draft import Draft
from ivr.versions.store import VersionStore

DRAFT_DIR = "draft"


@dataclass(frozen=True)
class Workspace:
    """Where designers' work lives: the shared draft and the numbered versions."""

    store: VersionStore
    draft: Draft

    @classmethod
    def of_config(cls, config: Config) -> Workspace:
        root = Path(config.design.dir)
        store = VersionStore(root, keep=config.design.keep_versions)
        return cls(store, Draft(root / DRAFT_DIR, store, Project.from_config(config.dialogue)))
