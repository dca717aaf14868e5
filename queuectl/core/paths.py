"""Where queuectl keeps its data: QUEUECTL_HOME and the default store URL."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def home() -> Path:
    """QUEUECTL_HOME (default ~/.queuectl), not created here."""
    env = os.environ.get("QUEUECTL_HOME")
    return Path(env).expanduser() if env else Path.home() / ".queuectl"


def make_private_dirs(path: Path) -> None:
    """Create `path` and its missing parents one by one, each 0700 whatever the umask
    (`Path.mkdir(parents=True)` makes the parents 0777 & ~umask)."""
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            continue
        os.chmod(folder, 0o700)  # a umask with bits in 0700 (e.g. 0277) cannot take them away


def check_private_dir(path: Path, what: str) -> None:
    """Refuse, as ssh does for ~/.ssh, a folder that another user owns or that group or others may
    write to: whoever can write there can plant jobs, a store or a symlink for us to follow.

    Root-owned folders are trusted (root can do anything anyway); only the folder itself is
    checked, not its parents: /tmp (sticky, world-writable) above a 0700 home is fine.
    """
    from queuectl.core.errors import StoreUnavailable

    try:
        st = os.stat(path)
    except OSError as exc:
        raise StoreUnavailable(f"cannot use {what} {path}: {exc.strerror}") from None
    me = os.geteuid()
    if st.st_uid not in (me, 0):
        raise StoreUnavailable(f"{what} {path} belongs to another user (uid {st.st_uid}); refusing to use it")
    if st.st_mode & 0o022:
        who = "group and others" if st.st_mode & 0o022 == 0o022 else "others" if st.st_mode & 0o002 else "its group"
        raise StoreUnavailable(
            f"{what} {path} is writable by {who} (mode {stat.S_IMODE(st.st_mode):04o}); refusing to use it "
            f"(chmod go-w '{path}')"
        )


def ensure_home(path: Path | None = None) -> Path:
    """Create the home (0700, its missing parents too) and its workers/ folder if missing; refuse
    one that another user owns or may write to. Returns it."""
    root = path or home()
    make_private_dirs(root)
    check_private_dir(root, "QUEUECTL_HOME")
    workers = root / "workers"
    try:
        os.mkdir(workers, 0o700)
    except FileExistsError:
        check_private_dir(workers, "the worker log folder")
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
