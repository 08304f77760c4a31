"""Validation of the query parameters shared by the page and the API."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from digits.cli import INTEGER_FORM, whole_number
from digits.handwriting import MAX_TEXT
from digits.steer import LIMIT as STEER_LIMIT

MAX_SEED = 2**32 - 1
MAX_COUNT = 64
PAGE_COUNT = 5
MAX_SCALE = 16


class InvalidParameter(ValueError):
    """A bad query parameter; the message is shown to the user as is."""


@dataclass(frozen=True)
class Query:
    digit: int
    seed: int
    model: str
    count: int = PAGE_COUNT


def single(args: MultiDict, name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise InvalidParameter(f"{name} is given {len(values)} times; give it once")
    return values[0] if values else None


def integer(args: MultiDict, name: str, low: int, high: int, default: int | None = None) -> int:
    """The value, or InvalidParameter naming the allowed range (never echoing what was sent)."""
    raw = single(args, name)
    if raw is None or raw == "":
        if default is None:
            raise InvalidParameter(f"{name} is required: an integer from {low} to {high}")
        return default
    value = whole_number(raw, low, high)
    if value is None:
        raise InvalidParameter(f"{name} must be an integer from {low} to {high}, {INTEGER_FORM}")
    return value


def model_name(args: MultiDict, known: list[str], default: str) -> str:
    """A model is chosen by its name from the list, never by a path."""
    raw = single(args, "model")
    if raw is None or raw == "":
        return default
    if raw not in known:
        raise InvalidParameter(f"model must be one of {', '.join(known)}")
    return raw


def scale(args: MultiDict) -> int:
    """A download's size, 1-16: each pixel as a scale x scale block. 1 (native) by default, so a link without it
    keeps its bytes."""
    return integer(args, "scale", 1, MAX_SCALE, default=1)


def parse(args: MultiDict, known: list[str], default_model: str, with_count: bool = False) -> Query:
    """Digit is required; seed defaults to a fresh random one; count only where the route allows it."""
    digit = integer(args, "digit", 0, 9)
    drawn = seed(args)
    model = model_name(args, known, default_model)
    count = integer(args, "count", 1, MAX_COUNT, default=PAGE_COUNT) if with_count else PAGE_COUNT
    return Query(digit, drawn, model, count)


MAX_ROWS = 16
MIN_FRAMES, MAX_FRAMES, DEFAULT_FRAMES = 2, 64, 8
NUMBER = re.compile(rf"[0-9]{{1,{MAX_TEXT}}}")


@dataclass(frozen=True)
class Number:
    text: str
    seed: int
    model: str
    count: int = PAGE_COUNT


@dataclass(frozen=True)
class Morph:
    digit: int
    to_digit: int
    seed: int
    to_seed: int
    frames: int
    model: str


def seed(args: MultiDict, name: str = "seed") -> int:
    return integer(args, name, 0, MAX_SEED, default=secrets.randbelow(MAX_SEED + 1))


def number_text(args: MultiDict) -> str:
    """A missing text is "required", a wrong one "must be": either way the rule, never the value."""
    raw = single(args, "text")
    rule = f"a number of 1 to {MAX_TEXT} digits, 0-9 only"
    if raw is None or raw == "":
        raise InvalidParameter(f"text is required: {rule}")
    if not NUMBER.fullmatch(raw):
        raise InvalidParameter(f"text must be {rule}")
    return raw


def parse_number(args: MultiDict, known: list[str], default_model: str) -> Number:
    """text (1-16 ASCII digits) is required; count 1-16 rows, each in its own hand."""
    return Number(number_text(args), seed(args), model_name(args, known, default_model),
                  integer(args, "count", 1, MAX_ROWS, default=PAGE_COUNT))


def parse_morph(args: MultiDict, known: list[str], default_model: str) -> Morph:
    """From (digit, hand of seed) to (to_digit, hand of to_seed) in 2-64 frames."""
    return Morph(integer(args, "digit", 0, 9), integer(args, "to_digit", 0, 9), seed(args), seed(args, "to_seed"),
                 integer(args, "frames", MIN_FRAMES, MAX_FRAMES, default=DEFAULT_FRAMES),
                 model_name(args, known, default_model))


CONTROL = re.compile(r"-?[0-9](\.[0-9]{1,2})?")  # ASCII only: "²", "٣" and "1e0" are not controls


@dataclass(frozen=True)
class Steered:
    text: str
    seed: int
    model: str
    controls: tuple[float, float, float]  # slant, weight, width


def control(args: MultiDict, name: str) -> float:
    """A decimal in -2..2 with at most two decimals; missing is 0; anything else names the range."""
    raw = single(args, name)
    if raw is None or raw == "":
        return 0.0
    value = float(raw) if CONTROL.fullmatch(raw) else None
    if value is None or abs(value) > STEER_LIMIT:
        raise InvalidParameter(f"{name} must be a decimal number from -{STEER_LIMIT:g} to {STEER_LIMIT:g} with at "
                               "most two decimals (for example -1.25)")
    return value + 0.0  # -0 is 0


def parse_steer(args: MultiDict, known: list[str], default_model: str, names: tuple[str, ...]) -> Steered:
    """text (1-16 ASCII digits) written in the hand of seed, moved along each named control."""
    text, drawn, model = number_text(args), seed(args), model_name(args, known, default_model)
    return Steered(text, drawn, model, tuple(control(args, name) for name in names))
