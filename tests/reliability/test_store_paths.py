"""Where the store and the home may be (issue 12 bug 5, issue 13 item 10), and what `retry` leaves on a
job (issue 12 bug 4).

- A mistyped store path is refused (exit 1, one line naming it); only the home and its missing
  parents are created, one by one, each 0700 whatever the umask.
- A home, or a store's folder, that another user owns or that group or others may write to is
  refused, as ssh refuses such a ~/.ssh: whoever can write there could plant a job or a symlink.
  Root-owned folders are trusted, and only the folder itself is checked (a 0700 home under the
  sticky, world-writable /tmp is fine; /tmp itself as the store's folder is not).
- The store file is never reached through a symbolic link (a dangling one made root create a
  database outside the home).

The tests run as root (CI does): "another user" is `nobody`.
"""

from __future__ import annotations

import os
import pwd
import stat
import tempfile
from pathlib import Path

import pytest

from reliability_support import RQueuectl, one_line_error

NOBODY = pwd.getpwnam("nobody").pw_uid


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _umask(mask: int) -> dict:
    return {"preexec_fn": lambda: os.umask(mask)}


def _listing(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*"))


# ── bug 5: a mistyped store path ──────────────────────────────────────────────────────────────


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("how", ["env", "option", "env-bare-path"])
def test_a_store_path_whose_folder_does_not_exist_is_refused_and_nothing_is_created(q: RQueuectl, tmp_path, how):
    missing = tmp_path / "invalid" / "dir"
    url = f"sqlite:///{missing}/queuectl.db" if how != "env-bare-path" else f"{missing}/queuectl.db"
    (q.home / "workers").mkdir(mode=0o700, parents=True)
    before = _listing(tmp_path)
    if how == "option":
        res = q.run("--db", url, "status", check=False)
    else:
        res = q.run("status", env=dict(q.env, QUEUECTL_DB=url), check=False)
    line = one_line_error(res, 1)
    assert str(missing) in line and "does not exist" in line, line
    assert _listing(tmp_path) == before


@pytest.mark.backends("sqlite")
def test_a_store_path_under_a_file_is_refused(q: RQueuectl, tmp_path):
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    line = one_line_error(q.run("--db", f"sqlite:///{blocker}/q.db", "status", check=False), 1)
    assert str(blocker) in line and "not a folder" in line, line


def test_the_home_and_its_missing_parents_are_made_one_by_one_0700_under_umask_000(q: RQueuectl, tmp_path):
    q.home = tmp_path / "a" / "b" / "home"
    q.db_path = q.home / "queue.db"
    q.env["QUEUECTL_HOME"] = str(q.home)
    res = q.run("status", **_umask(0))
    assert res.returncode == 0, res.stderr
    for folder in (tmp_path / "a", tmp_path / "a" / "b", q.home, q.home / "workers"):
        assert _mode(folder) == 0o700, f"{folder}: {oct(_mode(folder))}"


# ── issue 13 item 10: a home or store folder another user can write to ────────────────────────


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777, 0o757])
def test_a_home_writable_by_group_or_others_is_refused(q: RQueuectl, mode: int):
    q.home.mkdir()
    os.chmod(q.home, mode)
    before = _listing(q.home)
    for args in (("status",), ("enqueue", "true"), ("worker", "run", "--burst"), ("list",)):
        line = one_line_error(q.run(*args, check=False), 1)
        assert "QUEUECTL_HOME" in line and str(q.home) in line and "writable" in line, line
    assert _listing(q.home) == before  # no store, no workers/ folder, no job


def test_a_home_owned_by_another_user_is_refused_even_for_root(q: RQueuectl):
    q.home.mkdir(mode=0o700)
    os.chown(q.home, NOBODY, -1)
    line = one_line_error(q.run("enqueue", "true", check=False), 1)
    assert "another user" in line and str(q.home) in line, line
    assert list(q.home.iterdir()) == []


def test_a_root_owned_0700_home_under_sticky_world_writable_tmp_is_fine(q: RQueuectl):
    with tempfile.TemporaryDirectory(dir="/tmp") as top:  # /tmp: 1777, an ancestor only
        assert _mode(Path("/tmp")) & 0o002
        home = Path(top) / "qhome"
        res = q.run("status", env=dict(q.env, QUEUECTL_HOME=str(home)))
        assert res.returncode == 0 and _mode(home) == 0o700


@pytest.mark.backends("sqlite")
def test_a_world_writable_store_folder_is_refused(q: RQueuectl, tmp_path):
    q.home.mkdir(mode=0o700)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp itself
    line = one_line_error(q.run("--db", f"sqlite:///{shared}/q.db", "status", check=False), 1)
    assert "store's folder" in line and str(shared) in line, line
    assert list(shared.iterdir()) == []
    line = one_line_error(q.run("--db", "sqlite:////tmp/queuectl-test-never.db", "status", check=False), 1)
    assert "/tmp" in line
    assert not Path("/tmp/queuectl-test-never.db").exists()


@pytest.mark.backends("sqlite")
def test_a_store_folder_owned_by_another_user_is_refused(q: RQueuectl, tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, NOBODY, -1)
    line = one_line_error(q.run("--db", f"sqlite:///{theirs}/q.db", "status", check=False), 1)
    assert "another user" in line and str(theirs) in line, line


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("target", ["dangling", "existing store"])
def test_a_symlinked_store_file_is_never_followed(q: RQueuectl, tmp_path, target: str):
    (q.home / "workers").mkdir(mode=0o700, parents=True)
    outside = tmp_path / "outside.db"
    if target == "existing store":
        assert q.run("--db", f"sqlite:///{outside}", "enqueue", "true").returncode == 0
    q.db_path.symlink_to(outside)
    before = _listing(tmp_path)
    try:
        for args in (("status",), ("enqueue", "true"), ("worker", "run", "--burst")):
            line = one_line_error(q.run(*args, check=False), 1)
            assert "symbolic link" in line and str(q.db_path) in line, line
        assert _listing(tmp_path) == before
        assert outside.exists() == (target == "existing store")
    finally:
        q.db_path.unlink()  # the teardown's `worker stop` would meet it too


# ── bug 4: retry leaves no trace of the previous run on the job ───────────────────────────────


@pytest.mark.parametrize("how", [("retry",), ("dlq", "retry"), ("dlq", "retry", "--all")])
def test_retry_clears_the_last_error_and_exit_code_and_the_runs_keep_them(q: RQueuectl, how):
    job = q.enqueue_many([{"command": "echo boom; exit 3", "max_retries": 0}])[0]
    assert q.run("worker", "run", "--burst").returncode == 0
    before = q.show(job)
    assert before["state"] == "dead" and before["exit_code"] == 3 and before["last_error"], before
    q.run(*how, *(() if "--all" in how else (job,)))
    after = q.show(job)
    assert after["state"] == "pending" and after["attempts"] == 0
    assert after["exit_code"] is None and after["last_error"] is None, after
    assert [r["exit_code"] for r in after["runs"]] == [3]  # the history stays with the run
    shown = q.run("show", job).stdout
    assert "exit code   -" in shown and "last error  -" in shown, shown
