"""Shell completion: click's protocol, driven as bash would drive it, in a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def complete(words: str, home, cword: int | None = None) -> list[str]:
    """Completions of `words`; the subprocess inherits QUEUECTL_DB, so ids come from the test's store."""
    parts = words.split(" ")
    env = dict(os.environ, QUEUECTL_HOME=str(home), COMP_WORDS=words,
               COMP_CWORD=str(cword if cword is not None else len(parts) - 1), _QUEUECTL_COMPLETE="bash_complete")
    out = subprocess.run([sys.executable, "-m", "queuectl"], env=env, capture_output=True, text=True, timeout=30)
    return [line.split(",", 1)[1] for line in out.stdout.splitlines() if "," in line]


@pytest.mark.no_store
def test_bash_script_is_generated(home):
    env = dict(os.environ, QUEUECTL_HOME=str(home), _QUEUECTL_COMPLETE="bash_source")
    out = subprocess.run([sys.executable, "-m", "queuectl"], env=env, capture_output=True, text=True, timeout=30)
    assert "complete -o nosort -F _queuectl_completion queuectl" in out.stdout


@pytest.mark.no_store
@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_zsh_and_fish_scripts_are_generated(home, shell):
    env = dict(os.environ, QUEUECTL_HOME=str(home), _QUEUECTL_COMPLETE=f"{shell}_source")
    out = subprocess.run([sys.executable, "-m", "queuectl"], env=env, capture_output=True, text=True, timeout=30)
    assert "queuectl" in out.stdout and out.returncode == 0


@pytest.mark.no_store
def test_commands_complete(home):
    assert complete("queuectl dl", home) == ["dlq"]
    assert complete("queuectl worker st", home) == ["start", "stop"]


def test_job_ids_complete_from_the_store(home, core):
    core.add(id="build-1")
    core.add(id="build-2")
    core.add(id="deploy")
    assert complete("queuectl show bu", home) == ["build-1", "build-2"]
    assert complete("queuectl retry deploy bu", home) == ["build-1", "build-2"]


@pytest.mark.no_store
def test_setting_keys_and_states_complete(home):
    assert complete("queuectl config set backoff", home) == ["backoff_base", "backoff_max"]
    assert complete("queuectl list --state d", home) == ["dead"]
