"""Where queuectl keeps its data: QUEUECTL_HOME and the default store URL."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """QUEUECTL_HOME (default ~/.queuectl), not created here."""
    env = os.environ.get("QUEUECTL_HOME")
    return Path(env).expanduser() if env else Path.home() / ".queuectl"


def ensure_home(path: Path | None = None) -> Path:
    """Create the home (0700) and its workers/ folder if missing, and return it."""
    root = path or home()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    (root / "workers").mkdir(mode=0o700, exist_ok=True)
    return root


def default_store_url() -> str:
    """QUEUECTL_DB if set, else the SQLite file in QUEUECTL_HOME."""
    return os.environ.get("QUEUECTL_DB") or "sqlite:///" + str((home() / "queue.db").absolute()).lstrip("/")


def worker_log_path(worker_id: str, root: Path | None = None) -> Path:
    return (root or home()) / "workers" / f"{worker_id}.log"


def ensure_home_or_fail() -> Path:
    """ensure_home(), turning an unwritable home into a one-line StoreUnavailable."""
    from queuectl.core.errors import StoreUnavailable

    root = home()
    try:
        return ensure_home(root)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create QUEUECTL_HOME {root}: {exc.strerror}") from None
