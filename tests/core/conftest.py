from __future__ import annotations

import pytest

from queuectl.core.clock import FrozenClock
from queuectl.core.config import ConfigStore
from queuectl.core.db import Store, open_store
from queuectl.core.queue import JobQueue
from queuectl.core.registry import WorkerRegistry


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def store(tmp_path, monkeypatch) -> Store:
    monkeypatch.setenv("QUEUECTL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QUEUECTL_DB", raising=False)
    s = open_store(f"sqlite:///{tmp_path / 'queue.db'}")
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
