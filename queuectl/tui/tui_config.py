"""The TUI's own small config file, $QUEUECTL_HOME/tui.toml: the theme (remembered when changed)
and the user's key remapping (binding id = "keys"), e.g.

    theme = "textual-light"

    [keys]
    kill-job = "K"
    cursor-down = "j,ctrl+n"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from queuectl.core import paths

FILE_NAME = "tui.toml"
_THEME_LINE = re.compile(r'^theme\s*=.*$', re.MULTILINE)


@dataclass(frozen=True, slots=True)
class TuiConfig:
    theme: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # what was wrong in the file (shown once, never fatal)


def config_path() -> Path:
    return paths.home() / FILE_NAME


def load(path: Path | None = None) -> TuiConfig:
    path = path or config_path()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return TuiConfig()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return TuiConfig(problems=(f"{path}: {exc}",))
    problems: list[str] = []
    theme = data.get("theme")
    if theme is not None and not isinstance(theme, str):
        problems.append(f"{path}: theme must be a string")
        theme = None
    keys: dict[str, str] = {}
    raw_keys = data.get("keys", {})
    if not isinstance(raw_keys, dict):
        problems.append(f"{path}: [keys] must be a table of binding id = \"keys\"")
        raw_keys = {}
    for binding_id, value in raw_keys.items():
        if isinstance(value, str) and value.strip():
            keys[binding_id] = value.replace(" ", "")
        else:
            problems.append(f"{path}: keys.{binding_id} must be a non-empty string like \"K\" or \"j,ctrl+n\"")
    return TuiConfig(theme, keys, tuple(problems))


def save_theme(theme: str, path: Path | None = None) -> Path:
    """Remember the theme: the `theme =` line is replaced (or added first); the rest is kept."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
        paths.make_private_dirs(path.parent)
    line = f'theme = "{theme}"'
    text = _THEME_LINE.sub(line, text, count=1) if _THEME_LINE.search(text) else f"{line}\n{text}"
    path.write_text(text, encoding="utf-8")
    return path
