"""What the idle TUI costs: CPU of `queuectl tui` on a store of N jobs, Jobs tab open, nobody typing.

    python bench/tui_idle.py [--jobs 10000] [--seconds 30] [--runs 3]

The store is one in use: mixed states, jobs created over the last day (--fresh: all just now,
the worst case, where every row's age ticks each second). Each run starts the real CLI in a pseudo-terminal of 120x40 (its output read and thrown away,
as a terminal would), lets it settle, then reads its CPU time over --seconds. The baseline, in
the same run and the same terminal: an empty Textual app (`App().run()`), which is what any
Textual program costs idle. Target (issue 11): at most 3 % of a core.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import psutil

TARGET = 3.0
EMPTY_APP = "from textual.app import App\nApp().run()"


def build(home: Path, jobs: int, fresh: bool = False) -> str:
    from queuectl.core.config import ConfigStore
    from queuectl.core.queue import JobQueue
    from queuectl.core.specs import JobSpec
    from queuectl.core.store import open_store

    url = f"sqlite:///{home / 'queue.db'}"
    store = open_store(url, durable=False)
    queue = JobQueue(store)
    settings = ConfigStore(store).settings()
    batch = [JobSpec(command=f"make -C /srv/build target-{i}", cwd="/srv") for i in range(min(jobs, 10_000))]
    for start in range(0, jobs, len(batch)):
        queue.enqueue(batch[: min(len(batch), jobs - start)], settings)
    with store.write():  # as a store in use: mixed states, created over the last day (newest a minute ago)
        if not fresh:
            store.execute(f"UPDATE job SET created_at = created_at - 60 - (? - seq) * {86400 / jobs}, run_at = created_at",
                          (jobs,))
        store.execute("UPDATE job SET state='completed', attempts=1, finished_at=created_at+1, exit_code=0 WHERE seq % 10 < 7")
        store.execute("UPDATE job SET state='dead', attempts=4, finished_at=created_at+1, exit_code=3 WHERE seq % 10 = 7")
    store.close()
    return url


def idle_cpu(argv: list[str], env: dict[str, str], settle: float, seconds: float) -> float:
    """Percent of one core the process used over `seconds`, after `settle` seconds of start-up."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)

    def drain() -> None:
        try:
            while os.read(master, 65536):
                pass
        except OSError:
            pass

    threading.Thread(target=drain, daemon=True).start()
    try:
        time.sleep(settle)
        ps = psutil.Process(proc.pid)
        before, t0 = ps.cpu_times(), time.monotonic()
        time.sleep(seconds)
        after, t1 = ps.cpu_times(), time.monotonic()
        if proc.poll() is not None:
            raise SystemExit(f"{argv[-1]} exited early ({proc.returncode})")
        used = (after.user - before.user) + (after.system - before.system)
        return 100 * used / (t1 - t0)
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fresh", action="store_true",
                        help="every job created just now (the worst case: every row's age ticks each second)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="tui-idle-") as tmp:
        home = Path(tmp)
        url = build(home, args.jobs, args.fresh)
        env = dict(os.environ, QUEUECTL_HOME=str(home), QUEUECTL_DB=url, TERM="xterm-256color")
        tui, base = [], []
        for _ in range(args.runs):
            tui.append(idle_cpu([sys.executable, "-m", "queuectl", "tui"], env, args.settle, args.seconds))
            base.append(idle_cpu([sys.executable, "-c", EMPTY_APP], env, args.settle, args.seconds))
    t, b = statistics.median(tui), statistics.median(base)
    store = "created just now" if args.fresh else "created over the last day"
    print(f"store: {args.jobs:,} jobs {store}")
    print(f"queuectl tui, {args.jobs:,} jobs, Jobs tab  {t:5.2f} % of a core (median of {args.runs} x {args.seconds:g} s;"
          f" runs {', '.join(f'{x:.2f}' for x in tui)})")
    print(f"baseline: empty Textual app      {b:5.2f} % of a core (runs {', '.join(f'{x:.2f}' for x in base)})")
    print(f"ratio to baseline                {t / b if b else float('inf'):5.1f}x")
    print(f"target                           {TARGET:5.2f} % ({'met' if t <= TARGET else 'NOT met'})")


if __name__ == "__main__":
    main()
