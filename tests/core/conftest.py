from __future__ import annotations

from collections.abc import Iterator

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


@pytest.fixture
def store(store_under_test: str | None, tmp_path, monkeypatch) -> Iterator[Store]:
    """The same tests on both stores (`store_under_test`, tests/conftest.py, which the `backends`
    marker narrows): a SQLite file, and a fresh PostgreSQL database."""
    monkeypatch.setenv("QUEUECTL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QUEUECTL_DB", raising=False)
    s = open_store(store_under_test or f"sqlite:///{tmp_path / 'queue.db'}")
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
