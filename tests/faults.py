"""Failures injected at an exact point, so a fault test cannot pass because a timed kill missed.

    python -m tests.faults train EPOCH STEP ARGS...   # python -m training ARGS, SIGKILLed after STEP steps of EPOCH
    python -m tests.faults export ARGS...             # python -m export ARGS, SIGKILLed half-way through writing
                                                      # the ONNX file

The product has no test hooks: this wrapper patches it from outside, then runs its entry point.
"""
from __future__ import annotations

import math
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn


def die() -> NoReturn:
    os.kill(os.getpid(), signal.SIGKILL)


def half_write(then: Callable[[], NoReturn]) -> Callable[[Path, bytes], NoReturn]:
    """A ``Path.write_bytes`` that puts half of the bytes on disk, then fails by ``then`` (raise or die)."""
    def write_bytes(path: Path, data: bytes) -> NoReturn:
        with open(path, "wb") as f:
            f.write(data[:len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
        then()
    return write_bytes


def kill_in_training(epoch: int, step: int) -> None:
    """Every recipe's ``train_step`` SIGKILLs the process once ``step`` steps of ``epoch`` are done."""
    from training.models import GENERATORS

    done = 0

    def count(progress: float) -> None:
        nonlocal done
        if math.floor(progress) + 1 == epoch:  # progress = epochs done, fractional
            if done == step:
                die()
            done += 1

    for module in GENERATORS.values():
        original = module.Recipe.train_step

        def train_step(self, x, digit, progress: float, original=original):
            count(progress)
            return original(self, x, digit, progress)
        module.Recipe.train_step = train_step


def main(argv: list[str]) -> int:
    what, rest = argv[0], argv[1:]
    if what == "train":
        kill_in_training(int(rest[0]), int(rest[1]))
        from training.train import main as entry_point
        rest = rest[2:]
    elif what == "export":
        Path.write_bytes = half_write(die)
        from export.__main__ import main as entry_point
    else:
        raise SystemExit(f"usage: python -m tests.faults train EPOCH STEP ARGS... | export ARGS... (not {what})")
    return entry_point(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
