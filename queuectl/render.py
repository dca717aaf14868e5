"""Plain-text rendering for the CLI: aligned tables, ages, durations, state colours.

Deliberately not Rich: headless commands start in tens of milliseconds, and importing Rich
would cost more than the query. Colours only when stdout is a terminal (and NO_COLOR unset).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

STATE_COLOURS = {
    "pending": "33",      # yellow
    "processing": "36",   # cyan
    "completed": "32",    # green
    "failed": "35",       # magenta
    "dead": "31",         # red
    "cancelled": "90",    # grey
    "running": "32",
    "stopping": "33",
    "stopped": "90",
    "lost": "31",
}


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, code: str | None, colour: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if colour and code else text


def state(text: str, colour: bool) -> str:
    return paint(text, STATE_COLOURS.get(text), colour)


def duration(seconds: float | None) -> str:
    """1.2s, 45s, 3m05s, 2h04m, 3d02h."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s" if seconds >= 0.1 or seconds == 0 else f"{seconds * 1000:.0f}ms"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"


def age(ts: float | None, now: float) -> str:
    """'12s ago' or 'in 4m00s'."""
    if ts is None:
        return "-"
    delta = now - ts
    return f"{duration(delta)} ago" if delta >= 0 else f"in {duration(-delta)}"


def size(n: int | None) -> str:
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f}{unit}" if unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{n}B"


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
