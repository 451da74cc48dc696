"""Shared fixtures: a temporary store, the sample market, the Flask app and client."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CAREMARKET_SHARED", ROOT.parent / "shared")) / "data"


def shared(*parts: str) -> Path:
    """Path of a file in ../shared/data; skip the test when the shared data is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    return path


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "store.db"


@pytest.fixture
def db(db_path: Path):
    from caremarket.store import open_store

    store = open_store(db_path)
    yield store
    store.close()


@pytest.fixture(scope="session")
def sample_db_file(tmp_path_factory) -> Path:
    """One store with the sample market, built once per session; copy it before writing."""
    from caremarket.store import open_store
    from data.generate import load_sample

    path = tmp_path_factory.mktemp("sample") / "sample.db"
    store = open_store(path)
    load_sample(store)
    store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return path


@pytest.fixture
def sample_db(sample_db_file: Path, tmp_path: Path):
    """A private copy of the sample-market store."""
    import shutil

    from caremarket.store import open_store

    path = tmp_path / "sample.db"
    shutil.copy(sample_db_file, path)
    store = open_store(path)
    yield store
    store.close()


@pytest.fixture
def runner():
    from click.testing import CliRunner

    return CliRunner()
