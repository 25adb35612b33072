"""Owner-only files and folders: what databases, recordings, reports and secrets are kept in."""

from __future__ import annotations

from pathlib import Path

OWNER_ONLY_FILE = 0o600
OWNER_ONLY_DIR = 0o700


def private_dir(path: str | Path) -> Path:
    """Create ``path`` with its missing parents, owner-only (rwx------)."""
    folder = Path(path)
    for parent in reversed([folder, *folder.parents]):
        if not parent.exists():
            parent.mkdir(mode=OWNER_ONLY_DIR)
    return folder
