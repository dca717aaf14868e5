"""A run's output, fetched again and again as it grows, turned into styled lines for the screen.

Only SGR survives (`safe_text.styled_output`), as Rich styles. Complete lines are decoded once and
kept; the unfinished last line (a progress bar, a prompt) is decoded afresh on every update, so a
chunk that ends inside a UTF-8 character or an escape sequence shows right once the rest arrives.
A line is complete only when no OSC/DCS/APC/PM/SOS string is still open at its end, so a
multi-line string sequence (sixel graphics, say) is dropped whole instead of leaking its payload.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from rich.ansi import AnsiDecoder
from rich.cells import cell_len
from rich.style import Style
from rich.text import Text

from queuectl.core.records import RunOutput
from queuectl.safe_text import styled_output

# Past this, an unfinished line is cut down to its last `\r` redraw (a progress bar that never ends
# its line must not make every refresh decode more).
PENDING_MAX = 64 * 1024
_STRING_INTRODUCERS = (b"\x1b]", b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX",
                       b"\xc2\x9d", b"\xc2\x90", b"\xc2\x9e", b"\xc2\x9f", b"\xc2\x98")
_STRING_TERMINATORS = (b"\x07", b"\x1b\\", b"\xc2\x9c")
_SGR_SPLIT = re.compile(r"(\x1b\[[0-9;:]*m)")  # what styled_output leaves: SGR only


class FeedUpdate(NamedTuple):
    reset: bool               # the lines shown so far belong to another run, or were cut: start over
    lines: list[Text]         # newly completed lines
    partial: list[Text]       # the unfinished end, shown after every complete line (may be empty)


class OutputFeed:
    """The decoding state of the run on screen. Not thread-safe: one thread worker at a time."""

    def __init__(self) -> None:
        self._start(None)

    def _start(self, run: int | None) -> None:
        self.run = run
        self.seen = 0          # output bytes of the run already taken in
        self.pending = b""     # bytes of the unfinished end
        self.decoder = AnsiDecoder()  # carries SGR state from one line to the next, as a terminal does

    def feed(self, out: RunOutput) -> FeedUpdate:
        new = out.output_bytes - self.seen
        reset = out.number != self.run or new < 0 or new > len(out.output)
        if reset:  # another run, or bytes we never saw were dropped from the stored tail
            self._start(out.number)
            data = out.output
        else:
            data = out.output[len(out.output) - new:] if new else b""
        self.seen = out.output_bytes
        raw = self.pending + data
        cut = _complete_end(raw)
        complete, pending = raw[:cut], raw[cut:]
        if len(pending) > PENDING_MAX:
            redraw = pending.rfind(b"\r", 0, len(pending) - 1)
            if redraw > 0:
                pending = pending[redraw:]
        self.pending = pending
        lines = [self._decode(line) for line in _split(complete)]
        saved = self.decoder.style
        partial = [self._decode(line) for line in _split(pending)] if pending else []
        self.decoder.style = saved
        return FeedUpdate(reset, lines, partial)

    def _decode(self, line: str) -> Text:
        text = self.decoder.decode_line(_expand_tabs(line) if "\t" in line else line)
        text.spans[:] = [span._replace(style=_without_default_colours(span.style)) for span in text.spans]
        return text


def _split(raw: bytes) -> list[str]:
    if not raw:
        return []
    text = styled_output(raw.decode("utf-8", "replace"))
    if text.endswith("\n"):
        text = text[:-1]
    return text.split("\n")


def _expand_tabs(line: str) -> str:
    """Tabs to spaces (stops every 8 columns), counting only the text between SGR sequences;
    several times faster than Text.expand_tabs on a megabyte of output."""
    out: list[str] = []
    column = 0
    for part in _SGR_SPLIT.split(line):
        if part.startswith("\x1b"):
            out.append(part)
            continue
        for i, piece in enumerate(part.split("\t")):
            if i:
                pad = 8 - column % 8
                out.append(" " * pad)
                column += pad
            out.append(piece)
            column += cell_len(piece)
    return "".join(out)


def _complete_end(raw: bytes) -> int:
    """Where the complete lines of `raw` end: after its last newline that is not inside a string
    sequence (one still open, or closed only after that newline)."""
    end = len(raw)
    while True:
        newline = raw.rfind(b"\n", 0, end)
        if newline < 0:
            return 0
        start = max(raw.rfind(i, 0, newline) for i in _STRING_INTRODUCERS)
        if start < 0 or len(raw) - start > PENDING_MAX:
            return newline + 1
        ends = [at for at in (raw.find(t, start + 2) for t in _STRING_TERMINATORS) if at >= 0]
        if ends and min(ends) < newline:
            return newline + 1
        end = start


@lru_cache(maxsize=512)
def _without_default_colours(style: Style | str) -> Style | str:
    """SGR 39/49 mean "the terminal's default colour": on screen that is the view's own colours,
    not the terminal's (which would punch a hole in the app's background)."""
    if not isinstance(style, Style):
        return style
    color, bgcolor = style.color, style.bgcolor
    if not (color and color.is_default) and not (bgcolor and bgcolor.is_default):
        return style
    return style.without_color + Style.from_color(
        None if color is None or color.is_default else color,
        None if bgcolor is None or bgcolor.is_default else bgcolor,
    )
