from __future__ import annotations

import pytest

from queuectl.core.clock import FrozenClock
from queuectl.core.config import ConfigStore
from queuectl.core.db import Store
from queuectl.core.queue import JobQueue
from queuectl.core.registry import WorkerRegistry
from queuectl.core.store import open_store


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path, monkeypatch) -> Store:
    """The same tests on both stores: a SQLite file, and a fresh PostgreSQL database."""
    monkeypatch.setenv("QUEUECTL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QUEUECTL_DB", raising=False)
    url = f"sqlite:///{tmp_path / 'queue.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    s = open_store(url)
    yield s
    s.close()


@pytest.fixture
def queue(store, clock) -> JobQueue:
    return JobQueue(store, clock)


@pytest.fixture
def config(store) -> ConfigStore:
    return ConfigStore(store)


@pytest.fixture
def registry(store, clock) -> WorkerRegistry:
    return WorkerRegistry(store, clock)
