"""Small helpers shared by the command-line entry points."""
from __future__ import annotations

import shlex
import sys


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
