"""The PIN pepper's file: made owner-only at the default path, required anywhere else."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ivr.config import Config, ConfigError
from ivr.pepper import bank_pepper


def test_the_default_pepper_is_made_once_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = bank_pepper(Config())
    assert len(first) >= 32 and bank_pepper(Config()) == first  # kept, not remade
    assert (tmp_path / "var" / "bank-pepper").stat().st_mode & 0o077 == 0


def test_a_configured_pepper_file_must_exist(tmp_path: Path) -> None:
    config = Config()
    missing = str(tmp_path / "mounted" / "pepper")
    config = dataclasses.replace(
        config, bank=dataclasses.replace(config.bank, pin_pepper_file=missing)
    )
    with pytest.raises(ConfigError, match=r"bank\.pin_pepper_file"):
        bank_pepper(config)
    assert not Path(missing).exists()
