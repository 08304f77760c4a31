"""A generator's settings as one typed dataclass (as nanoGPT's GPTConfig): each field owns its default,
its command-line flag, its help and its range, so a model module declares a setting in one place and
the training CLI, the checks and the checkpoint all follow from it.

Checkpoints store ``asdict(config)`` (plain values: they load with ``weights_only=True``) and a run is
rebuilt with ``Config.from_saved``, which fills settings a run predates with the values it was trained
under (``LEGACY``), so older checkpoints resume and export as they were."""
from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar


class SettingError(ValueError):
    """A setting out of its range, or of another model: the CLI prints it as one line."""


@dataclass(frozen=True)
class Rule:
    """A setting's valid range, as a test and as the words an error uses."""
    test: Callable[[float], bool]
    words: str


AT_LEAST_1 = Rule(lambda v: v >= 1, "at least 1")
AT_LEAST_2 = Rule(lambda v: v >= 2, "at least 2")
NON_NEGATIVE = Rule(lambda v: v >= 0, "0 or more")
POSITIVE = Rule(lambda v: v > 0, "positive")
DECAY = Rule(lambda v: 0 <= v < 1, "in [0, 1)")


def setting(default: Any, rule: Rule, help: str) -> Any:  # noqa: A002 - argparse's word
    """A dataclass field that is also a flag: ``--name-with-dashes``, typed as its default."""
    return field(default=default, metadata={"rule": rule, "help": help})


def override(base: type, name: str, default: Any) -> Any:
    """The same setting as ``base`` has, with another default (a model's own epochs, batch, ...)."""
    return field(default=default, metadata=base.__dataclass_fields__[name].metadata)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass(frozen=True)
class TrainConfig:
    """The settings every generator has; a model's Config extends it with its own and its defaults."""
    LEGACY: ClassVar[dict[str, Any]] = {}

    epochs: int = setting(30, AT_LEAST_1, "total epochs")
    batch_size: int = setting(128, AT_LEAST_1, "global batch, split across ranks")
    lr: float = setting(1e-3, POSITIVE, "learning rate")
    latent_dim: int = setting(16, AT_LEAST_1, "the CGAN's noise width or the CVAE's code width (its z, the ONNX "
                                              "latent_dim, has 1 more: the mixture component)")
    width: int = setting(32, AT_LEAST_2, "base channel count")
    ema_decay: float = setting(0.0, DECAY, "decay of the weight average that is exported (0 = none)")
    seed: int = setting(0, NON_NEGATIVE, "seed of the weights, the batches and the noise")
    limit: int = setting(0, NON_NEGATIVE, "train on the first N images only (0 = all; the rest can choose the epoch)")

    def __post_init__(self) -> None:
        """Every value in range, or one line naming the flag and its range."""
        for f in dataclasses.fields(self):
            value, rule = getattr(self, f.name), f.metadata["rule"]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SettingError(f"{flag(f.name)} must be a number, got {type(value).__name__}")
            if not (math.isfinite(value) and rule.test(value)):
                raise SettingError(f"{flag(f.name)} must be {rule.words}, got {value}")

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> TrainConfig:
        """The settings a checkpoint recorded (keys of other models or of the run itself are ignored)."""
        values = {**cls.LEGACY, **saved}
        return cls(**{f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values})


def shared_names() -> set[str]:
    return {f.name for f in dataclasses.fields(TrainConfig)}


def add_flags(group: argparse._ActionsContainer, config: type, names: set[str] | None = None,
              defaults: str | None = None) -> None:
    """One flag per field of ``config`` (of ``names`` only, if given). Flags default to None, so a resumed
    run can tell a flag given from one left to the checkpoint; ``defaults`` replaces the default in the help."""
    for f in dataclasses.fields(config):
        if names is None or f.name in names:
            shown = defaults if defaults is not None else f"{f.default:g}"
            group.add_argument(flag(f.name), type=type(f.default), metavar="N" if isinstance(f.default, int) else "X",
                               help=f"{f.metadata['help']} (default {shown}; {f.metadata['rule'].words})")


def model_flags(parser: argparse.ArgumentParser, title: str, config: type) -> None:
    """A model's own flags (those past the shared ones), in a group of its own."""
    add_flags(parser.add_argument_group(title), config, {f.name for f in dataclasses.fields(config)} - shared_names())
