"""Small helpers shared by the command-line entry points, and the one way a number is written to them
or to the web app's query strings."""
from __future__ import annotations

import argparse
import re
import shlex
import sys

# ASCII digits only, no sign, no spaces, no leading zero but in "0" itself: one way to write each number
# (int() alone would also take " 3", "+3", "0003", "3_0", "٣" and "3\n"). 19 digits bound int() below.
INTEGER = re.compile(r"0|[1-9][0-9]{0,18}")
INTEGER_FORM = "written in ASCII digits: no sign, spaces or leading zeros"


def command_line(module: str, argv: list[str] | None) -> str:
    """The command as typed, for model cards and ONNX metadata (how to rebuild the artifact)."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])


def fail(exc: Exception, code: int) -> int:
    """Print a user-fixable error as one line (never a traceback) and return the exit status."""
    if isinstance(exc, OSError) and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        message = str(exc)
    print(f"error: {message}", file=sys.stderr)
    return code


def whole_number(text: str, low: int, high: int) -> int | None:
    """The number ``text`` writes, if written as INTEGER says and from ``low`` to ``high``; else None."""
    if INTEGER.fullmatch(text) and low <= int(text) <= high:
        return int(text)
    return None


class OneLineParser(argparse.ArgumentParser):
    """argparse, but an error is one line (``error: …``) without the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.exit(fail(ValueError(message), 2))


def whole(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high``; the error names the range, not the input."""
    def parse(text: str) -> int:
        value = whole_number(text, low, high)
        if value is None:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, {INTEGER_FORM}")
        return value
    return parse
