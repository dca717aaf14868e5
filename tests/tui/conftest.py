"""Fixtures for the TUI tests: a private QUEUECTL_HOME, the store seeded through the core with a
frozen clock, the app as the CLI builds it, and a reaper for tests that start real workers."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from textual.widgets import Input

from queuectl.core.clock import SYSTEM_CLOCK, FrozenClock
from queuectl.core.supervisor import stop_workers
from queuectl.tui.app import QueuectlApp, make_app
from tui_support import T0, Core, open_core, processes_of_home, seed


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every TUI test gets its own QUEUECTL_HOME; QUEUECTL_DB from the caller's shell is ignored."""
    root = tmp_path / "home"
    monkeypatch.setenv("QUEUECTL_HOME", str(root))
    monkeypatch.delenv("QUEUECTL_DB", raising=False)
    monkeypatch.delenv("QUEUECTL_HOST_ID", raising=False)
    return root


@pytest.fixture(autouse=True)
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blinking cursor makes a screenshot depend on the moment it is taken."""
    monkeypatch.setattr(Input, "cursor_blink", False)


@pytest.fixture
def store_url(home: Path) -> str:
    return "sqlite:///" + str(home / "queue.db").lstrip("/")


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(T0)


@pytest.fixture
def core(store_url: str, clock: FrozenClock) -> Iterator[Core]:
    """The core with the frozen clock (set-up and checks of the seeded tests)."""
    yield from open_core(store_url, clock)


@pytest.fixture
def live_core(store_url: str) -> Iterator[Core]:
    """The core on the real clock, for tests with real worker processes."""
    yield from open_core(store_url, SYSTEM_CLOCK)


@pytest.fixture
def seeded(core: Core, clock: FrozenClock) -> Core:
    seed(core, clock)
    return core


# ── the app ─────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def app(seeded: Core, store_url: str, clock: FrozenClock) -> QueuectlApp:
    """The app on the seeded store, frozen clock, no timer (tests drive refreshes), no psutil stats."""
    return make_app(store_url, clock=clock, poll_interval=0, process_stats=False)


@pytest.fixture
def live_app_factory(store_url: str) -> Callable[[], QueuectlApp]:
    """An app on the real clock, for tests with real workers."""
    return lambda: make_app(store_url, clock=SYSTEM_CLOCK, poll_interval=0, process_stats=False)


# ── real processes ──────────────────────────────────────────────────────────────────────


@pytest.fixture
def reaper(live_core: Core, home: Path) -> Iterator[Core]:
    """For tests that start workers: at teardown every worker is force-stopped and waited for, and no
    process of this test's home may be left (leftovers are killed, then the test fails)."""
    yield live_core
    _, still = stop_workers(live_core.store, force=True, wait=True, timeout=5)
    deadline = time.monotonic() + 5
    left = processes_of_home(home)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = processes_of_home(home)
    described = []
    for p in left:
        try:
            described.append(f"{p.pid} {' '.join(p.cmdline())}")
            p.send_signal(signal.SIGKILL)
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=5)
    assert not still, f"workers still live after a forced stop: {still}"
    assert not described, f"processes left behind (killed now): {described}"
