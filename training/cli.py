"""Small helpers shared by the command-line entry points."""
from __future__ import annotations

import shlex
import sys


def command_line(module: str, argv: list[str] | None) -> str:
    """The command as typed, for model cards and ONNX metadata (how to rebuild the artifact)."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])
