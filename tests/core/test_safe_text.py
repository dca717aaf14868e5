"""Job-controlled text: only colour survives, nothing else reaches the terminal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queuectl.safe_text import one_line, plain_output, styled_output

pytestmark = pytest.mark.no_store

HOSTILE = (
    "before\n"
    "\x1b[2J\x1b[H"              # clear screen, cursor home
    "\x1b[5;40HHIJACK\n"         # cursor move
    "\x1b]0;pwned-title\x07"     # window title (BEL)
    "\x1b]52;c;aGVsbG8=\x1b\\"   # clipboard write (ST)
    "\x1bP1$qm\x1b\\"            # DCS
    "\x1b_apc\x1b\\\x1b^pm\x1b\\\x1bXsos\x1b\\"
    "\x07bell\x08\x08back\x1b7\x1b8\x1bc\x1b(B"
    "\x9b31m8bit\x9b0m \x9d0;t\x9c"
    "\x1b[31mred\x1b[0m \x1b[1;38;5;208mbold\x1b[0m\n"
    "10%\r50%\r100%\n"
    "crlf\r\n"
    "tab\there\n"
    "after\x1b]0;unterminated"
)


def test_styled_output_keeps_only_sgr():
    out = styled_output(HOSTILE)
    assert "HIJACK" in out and "pwned-title" not in out and "aGVsbG8" not in out
    assert "apc" not in out and "pm" not in out.replace("\x1b[", "") and "sos" not in out
    assert "unterminated" not in out
    assert "\x1b[31mred\x1b[0m" in out and "\x1b[1;38;5;208mbold" in out
    assert "\x1b[31m8bit\x1b[0m" in out
    assert "\n100%\n" in out and "crlf\n" in out and "tab\there" in out
    leftover = out
    for seq in ("\x1b[31m", "\x1b[0m", "\x1b[1;38;5;208m"):
        leftover = leftover.replace(seq, "")
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) <= 0x9f for c in leftover)


def test_plain_and_one_line_drop_everything():
    plain = plain_output(HOSTILE)
    assert "\x1b" not in plain and "red bold" in plain and "\n100%\n" in plain
    line = one_line("a\x1b]0;t\x07b\nc\td\x1b[2Je\x9b1m")
    assert line == "ab c de"


@given(st.text(alphabet=st.sampled_from(list("ab[];m0123456789\x1b\x07\x9b\x9d\x9c\\\r\n\t\x08P_^X"))))
def test_nothing_but_sgr_escapes_survive(text):
    out = styled_output(text)
    rest = out
    import re
    rest = re.sub(r"\x1b\[[0-9;:]*m", "", rest)
    assert not any(ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) <= 0x9f for c in rest)
    assert all(c >= " " or c in "\n\t" for c in one_line(text)) and "\n" not in one_line(text)
