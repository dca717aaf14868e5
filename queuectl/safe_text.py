"""Job-controlled text made safe to show on a terminal.

A job's output, command, error, id, queue and env names are data. Written to a terminal as they
are, they could clear the screen, move the cursor, retitle the window or write the clipboard
(OSC 52). These functions drop every control and escape sequence; `styled_output` keeps only SGR
(colour and style), which Rich turns into styles (`Text.from_ansi`) in the TUI.

Pure Python on purpose: headless commands use it too, and must not import Rich.
"""

from __future__ import annotations

import re
from functools import cache, partial

# The patterns are compiled on first use, not at import: every command imports this module, few
# print job-controlled text (issue 15: start-up).


@cache
def _escapes() -> re.Pattern[str]:
    # One alternation so a sequence is removed whole, never half (which would leave its tail as text).
    return re.compile(
        r"""
        (?P<csi>(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~])          # CSI: cursor, erase, SGR, modes …
        | (?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c|$)  # OSC: title, clipboard, hyperlinks
        | (?:\x1b[P_^X]|[\x90\x9e\x9f\x98])[^\x1b\x9c]*(?:\x1b\\|\x9c|$)  # DCS, APC, PM, SOS
        | \x1b[ -/]*[0-~]                                  # other ESC sequences: charset, save cursor, RIS
        | \x1b                                              # a lone or cut-off ESC
        """,
        re.VERBOSE,
    )


_sgr = cache(partial(re.compile, r"(?:\x1b\[|\x9b)([0-9;:]*)m"))
# C0 controls but tab and newline, DEL, C1 controls (a lone ESC is matched by `_escapes` first).
_controls = cache(partial(re.compile, r"[\x00-\x08\x0b-\x1f\x7f-\x9f]"))
_controls_one_line = cache(partial(re.compile, r"[\x00-\x1f\x7f-\x9f]"))


def _drop_escapes(text: str, keep_sgr: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        sgr = keep_sgr and match.group("csi") and _sgr().fullmatch(match.group("csi"))
        return "\x1b[" + sgr.group(1) + "m" if sgr else ""

    return _escapes().sub(replace, text)


def _last_state(line: str) -> str:
    """What a terminal shows of a line a progress bar redrew with carriage returns: the last draw."""
    if "\r" not in line:
        return line
    parts = [part for part in line.split("\r") if part]
    return parts[-1] if parts else ""


def _multi_line(text: str, keep_sgr: bool) -> str:
    text = _drop_escapes(text, keep_sgr).replace("\r\n", "\n")
    if "\r" in text:
        text = "\n".join(_last_state(line) for line in text.split("\n"))
    # An ESC left at this point starts a kept SGR sequence; every other control goes.
    return _controls().sub(lambda m: m.group() if m.group() == "\x1b" else "", text)


def styled_output(text: str) -> str:
    """Multi-line job output with only SGR sequences left: no cursor moves, erases, titles,
    clipboard writes, bells or other controls. A `\\r`-redrawn line keeps its last state;
    tabs and newlines stay (the viewer expands tabs)."""
    return _multi_line(text, keep_sgr=True)


def plain_output(text: str) -> str:
    """Multi-line job output with every escape sequence and control dropped (no colour)."""
    return _multi_line(text, keep_sgr=False)


def one_line(text: str) -> str:
    """A one-line field (command, error, id, queue, env name) for a table cell or a label: escape
    sequences and controls dropped, line breaks and tabs shown as spaces."""
    text = _drop_escapes(text, keep_sgr=False)
    return _controls_one_line().sub(lambda m: " " if m.group() in "\n\r\t" else "", text)
