"""Train the assistant only when its inputs changed: fingerprint, fixed model path, progress.

The fingerprint is a SHA-256 over the domain, the config and every training data file
(path and content), plus the Rasa version and the training options. ``ivr train`` compares
it with the one saved next to the model and skips training when nothing changed; the model
always lands at the same path (``models/dialogue.tar.gz``) so the app and tests find it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dialogue import quiet_rasa_environment
from dialogue.settings import DialogueConfig

DOMAIN = "dialogue/domain.yml"
CONFIG = "dialogue/config.yml"
ENDPOINTS = "dialogue/endpoints.yml"
TRAINING_DIRS = ("data/nlu", "data/rules", "data/stories")
"""Only these folders are Rasa training data; data/knowledge and data/bank are not."""
AUGMENTATION_FACTOR = 20


@dataclass(frozen=True)
class Project:
    """Where the assistant's files are, resolved against the project root."""

    root: Path
    model_dir: Path
    model_name: str = "dialogue"

    @classmethod
    def from_config(cls, dialogue: DialogueConfig) -> Project:
        """The project the ``dialogue`` settings name (model_dir relative to project_dir)."""
        root = Path(dialogue.project_dir)
        model_dir = Path(dialogue.model_dir)
        if not model_dir.is_absolute():
            model_dir = root / model_dir
        return cls(root=root, model_dir=model_dir, model_name=dialogue.model_name)

    @property
    def domain(self) -> Path:
        return self.root / DOMAIN

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def endpoints(self) -> Path:
        return self.root / ENDPOINTS

    @property
    def model_path(self) -> Path:
        return self.model_dir / f"{self.model_name}.tar.gz"

    @property
    def fingerprint_path(self) -> Path:
        return self.model_dir / f"{self.model_name}.fingerprint.json"

    def training_data(self) -> list[Path]:
        """Every training data file, in a stable order."""
        files: list[Path] = []
        for folder in TRAINING_DIRS:
            files += sorted((self.root / folder).rglob("*.yml"))
        return files

    def inputs(self) -> list[Path]:
        return [self.domain, self.config, *self.training_data()]


def fingerprint(project: Project) -> str:
    """SHA-256 of everything that shapes the model."""
    import rasa

    digest = hashlib.sha256()
    digest.update(f"rasa={rasa.__version__};augmentation={AUGMENTATION_FACTOR}\n".encode())
    for path in project.inputs():
        digest.update(str(path.relative_to(project.root)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def saved_fingerprint(project: Project) -> str | None:
    try:
        return str(json.loads(project.fingerprint_path.read_text())["fingerprint"])
    except (OSError, ValueError, KeyError):
        return None


def is_stale(project: Project) -> bool:
    """True when there is no model or its inputs changed since it was trained."""
    return not project.model_path.is_file() or saved_fingerprint(project) != fingerprint(project)


def validate_command(project: Project) -> list[str]:
    """``rasa data validate`` of the project's domain, config and training data, run by this
    interpreter's Rasa (exit code 1 on errors; warnings are printed and pass)."""
    return [
        sys.executable,
        "-m",
        "rasa",
        "data",
        "validate",
        "--domain",
        str(project.domain),
        "--config",
        str(project.config),
        "--data",
        *[str(project.root / folder) for folder in TRAINING_DIRS],
    ]


@dataclass(frozen=True)
class TrainingOutcome:
    model_path: Path
    trained: bool
    seconds: float
    fingerprint: str


def train(
    project: Project, *, force: bool = False, progress: Callable[[str], None] = print
) -> TrainingOutcome:
    """Train the model if it is stale (or ``force``); returns where the model is."""
    quiet_rasa_environment()
    missing = [str(p.resolve()) for p in (project.domain, project.config) if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"missing Rasa project file(s): {', '.join(missing)} (dialogue.project_dir is"
            f" {str(project.root)!r}: run from the checkout, or set it to the project's folder)"
        )
    start = time.monotonic()
    current = fingerprint(project)
    if not force and project.model_path.is_file() and saved_fingerprint(project) == current:
        progress(f"model {project.model_path} is up to date (fingerprint {current[:12]})")
        return TrainingOutcome(project.model_path, False, time.monotonic() - start, current)

    from rasa.model_training import train as rasa_train

    progress(
        f"training {project.model_path} from {len(project.training_data())} data files "
        f"(fingerprint {current[:12]})"
    )
    project.model_dir.mkdir(parents=True, exist_ok=True)
    result = rasa_train(
        domain=str(project.domain),
        config=str(project.config),
        training_files=[str(project.root / d) for d in TRAINING_DIRS],
        output=str(project.model_dir),
        fixed_model_name=project.model_name,
        force_training=False,
        core_additional_arguments={"augmentation_factor": AUGMENTATION_FACTOR},
    )
    if result.code != 0 or not result.model:
        raise RuntimeError(f"Rasa training failed (code {result.code})")
    produced = Path(result.model)
    if produced.resolve() != project.model_path.resolve():
        produced.replace(project.model_path)
    project.fingerprint_path.write_text(
        json.dumps({"fingerprint": current, "trained_at": time.time()}, indent=2) + "\n"
    )
    seconds = time.monotonic() - start
    progress(f"trained {project.model_path} in {seconds:.0f} s")
    return TrainingOutcome(project.model_path, True, seconds, current)
