"""The machine guards the shape: ruff (lint and import order) and import-linter (the layers named in
pyproject.toml) run with the suite, so the README's one test command covers them."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Both tools come with the test extra; run through this interpreter, as a console script may be
# installed where PATH does not look (a system pip puts them in /usr/local/bin).
RUFF = (sys.executable, "-m", "ruff")
LINT_IMPORTS = (sys.executable, "-c", "from importlinter.cli import lint_imports_command; lint_imports_command()")

pytestmark = pytest.mark.no_store


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing():
    result = _run(*RUFF, "check", "--no-cache", "--output-format", "concise", "queuectl", "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_import_contracts_hold():
    result = _run(*LINT_IMPORTS, "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


# What a front end may import from the core besides the door (queuectl.core.api): modules that hold no store.
DOOR_VOCABULARY = {"api", "clock", "errors", "overview", "paths", "records", "settings", "specs", "states", "views",
                   "waiting"}


def test_every_core_module_is_either_the_doors_vocabulary_or_closed_to_front_ends():
    import queuectl.core

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if "one door" in c["name"]]
    forbidden = {m.removeprefix("queuectl.core.") for m in contract["forbidden_modules"]}
    modules = {m.name for m in pkgutil.iter_modules(queuectl.core.__path__)}
    assert not forbidden & DOOR_VOCABULARY
    assert modules - DOOR_VOCABULARY == forbidden, "list the new core module in pyproject's one-door contract"
