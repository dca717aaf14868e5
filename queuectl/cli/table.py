"""Plain-text rendering for the CLI: aligned tables and ANSI state colours.

Deliberately not Rich: headless commands start in tens of milliseconds, and importing Rich
would cost more than the query. Colours only when stdout is a terminal (and NO_COLOR unset).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

from queuectl.format import STATE_COLOURS, age, duration, size

# The plain values (durations, ages, sizes, the palette) come from queuectl.format, shared with the
# TUI; this module adds what only a terminal CLI needs: ANSI paint and aligned tables.
__all__ = ["STATE_COLOURS", "age", "duration", "paint", "size", "state", "table", "use_colour"]


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, code: str | None, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def state(text: str, colour: bool) -> str:
    return paint(text, STATE_COLOURS.get(text), colour)


def _visible_len(text: str) -> int:
    out, i = 0, 0
    while i < len(text):
        if text[i] == "\x1b":
            i = text.index("m", i) + 1
            continue
        out += 1
        i += 1
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, shrink: int | None = None) -> str:
    """Columns padded to their widest cell; column `shrink` is cut with … to fit the terminal."""
    cells = [[c.replace("\n", " ") for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _visible_len(cell))
    if shrink is not None and sys.stdout.isatty():
        total = sum(widths) + 2 * (len(widths) - 1)
        room = shutil.get_terminal_size((120, 24)).columns
        if total > room:
            widths[shrink] = max(len(headers[shrink]), widths[shrink] - (total - room))
            for row in cells:
                if len(row[shrink]) > widths[shrink]:
                    row[shrink] = row[shrink][: widths[shrink] - 1] + "…"
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append(
            "  ".join(c + " " * (w - _visible_len(c)) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)
