"""The cluster's own PostgreSQL, made as root: a folder above it that the ``postgres`` user
cannot pass through is named before initdb runs, not reported as a denied file deep inside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ivr.cluster.postgres import PostgresServer, PostgresUnavailable

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="PostgreSQL runs as another user as root only"
)


def test_an_owner_only_folder_above_the_cluster_is_named(tmp_path: Path) -> None:
    shut = tmp_path / "var"
    shut.mkdir(mode=0o700)
    server = PostgresServer(shut / "cluster" / "postgres", 5999)
    with pytest.raises(
        PostgresUnavailable, match=rf"cannot pass through {shut} \(mode drwx------\)"
    ):
        server.create()
    assert not (shut / "cluster" / "postgres" / "data").exists()
