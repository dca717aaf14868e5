"""Make docs/tui.svg, the README's picture: the TUI at 120x32 on the seeded store the snapshot
tests use (a job in every state, fake workers, a frozen clock), so it is the same every time.

    python docs/screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE.parent / "tests" / "tui")]

from queuectl.core.clock import FrozenClock  # noqa: E402
from queuectl.tui.app import make_app  # noqa: E402
from tui_support import T0, loaded, open_core, refreshed, seed  # noqa: E402


async def _shoot(url: str, clock: FrozenClock) -> None:
    app = make_app(url, clock=clock, poll_interval=0, process_stats=False)
    async with app.run_test(size=(120, 32)) as pilot:
        await loaded(pilot)
        # as the snapshot tests do: the pulse reads its half hour on the second refresh, and the
        # flex column is fitted once the other columns are measured
        await refreshed(pilot)
        await refreshed(pilot)
        for _ in range(3):
            await pilot.pause()
        app.save_screenshot("tui.svg", path=str(HERE))


def main() -> None:
    home = tempfile.mkdtemp()
    os.chmod(home, 0o700)
    url = f"sqlite:///{home}/queue.db"
    clock = FrozenClock(T0)
    core = open_core(url, clock)
    seed(next(core), clock)
    core.close()
    asyncio.run(_shoot(url, clock))
    print(HERE / "tui.svg")


if __name__ == "__main__":
    main()
