"""`enqueue`'s SOURCE words: a command, or jobs from JSON text, a job file or stdin."""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

import click

from queuectl import safe_text
from queuectl.cli.context import Command
from queuectl.core.errors import InvalidInput

JOB_FILE_SUFFIXES = (".json", ".jsonl", ".ndjson")
JOB_FILE_MAX_BYTES = 64 * 1024 * 1024  # far above any real batch (~1M jobs of NDJSON), far below a hang


def _is_job_source(word: str) -> bool:
    """Whether one SOURCE word names jobs rather than a command: -, @FILE, JSON text, or a name
    without spaces ending in .json, .jsonl or .ndjson. Decided from the text alone: a command is
    never looked up as a path."""
    stripped = word.lstrip()
    return (word == "-" or word.startswith("@") or stripped.startswith(("{", "["))
            or (word.endswith(JOB_FILE_SUFFIXES) and not any(c.isspace() for c in word)))


def _read_capped(stream: Any, name: str) -> str:
    data = stream.read(JOB_FILE_MAX_BYTES + 1)
    if len(data) > JOB_FILE_MAX_BYTES:
        raise InvalidInput(f"{name} is larger than {JOB_FILE_MAX_BYTES // (1024 * 1024)} MiB")
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"cannot read {name}: not valid UTF-8") from None


def _read_job_file(path_text: str) -> str:
    """A job file's text: a regular file only (a FIFO or a device would hang or never end), capped."""
    import stat

    path = os.path.expanduser(path_text)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise InvalidInput(f"no such file: {path_text}") from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path_text}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidInput(f"cannot read {path_text}: not a regular file")
    with open(fd, "rb") as f:
        try:
            return _read_capped(f, path_text)
        except OSError as exc:
            raise InvalidInput(f"cannot read {path_text}: {exc.strerror or exc}") from None


def _read_source(source: str) -> str | None:
    """The JSON text behind one SOURCE word, or None when it is a shell command."""
    if source == "-":
        return _read_capped(getattr(sys.stdin, "buffer", sys.stdin), "stdin")
    if source.lstrip().startswith(("{", "[")):
        return source
    if source.startswith("@"):
        return _read_job_file(source[1:])
    if _is_job_source(source):
        return _read_job_file(source)
    return None


class EnqueueCommand(Command):
    """`enqueue`, whose SOURCE may be a command's words: `enqueue ls -la`, `enqueue -- ls -la`.

    Options come before the command. The first word that is not an option decides: a bare program
    name (no spaces, not a job source) starts the command, and every word after it is the command's
    (`-la` too); a job source or a quoted shell string is one word, and options may still follow it
    (`enqueue jobs.ndjson --json`, as before)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value = {name: not (p.is_flag or p.count) for p in self.get_params(ctx) if isinstance(p, click.Option)
                       for name in (*p.opts, *p.secondary_opts)}
        i = 0
        while i < len(args):
            word = args[i]
            if word == "--":
                ctx.meta["queuectl.argv"] = True
                break
            if word.startswith("-") and word != "-":
                long_form = word.startswith("--")
                attached = "=" in word if long_form else len(word) > 2
                name = word.split("=", 1)[0] if long_form else word[:2]
                i += 2 if takes_value.get(name) and not attached else 1
                continue
            if not _is_job_source(word) and not any(c.isspace() for c in word):
                ctx.meta["queuectl.argv"] = True
                args = [*args[:i], "--", *args[i:]]
            break
        return super().parse_args(ctx, args)


def enqueue_words(words: tuple[str, ...], argv: bool) -> tuple[str | None, str | None]:
    """(command, JSON text) from SOURCE's words; exactly one is not None."""
    if argv:
        return (words[0] if len(words) == 1 else shlex.join(words)), None
    if len(words) > 1:
        raise InvalidInput(
            f"'{safe_text.one_line(words[0])[:60]}' takes no further words "
            f"(got {safe_text.one_line(shlex.join(words[1:]))[:60]}): options go before the command; "
            "to run a program with arguments: queuectl enqueue [OPTIONS] [--] PROGRAM ARGS..."
        )
    text = _read_source(words[0])
    return (words[0], None) if text is None else (None, text)
