"""The dataset card: what a synthetic dataset is and how to make it again, as JSON beside the data."""
from __future__ import annotations

import datetime

from digits.files import file_sha256
from digits.generators import OnnxGenerator

CARD_NAME = "card.json"
PIXELS = "uint8 28x28, 0 = background, 255 = ink (round(clip(x, 0, 1) * 255) of the generator's image)"
ORDER = "shuffled by the seed; each digit's latents come from numpy default_rng([seed, digit])"


def make_card(generator: OnnxGenerator, counts: dict[int, int], seed: int, fmt: str, command: str) -> dict:
    """Model file and hash, seed, counts, format and command; the date is the only field a rerun changes."""
    return {
        "model": generator.name,
        "model_file": generator.path.name,
        "model_sha256": file_sha256(generator.path),
        "model_metadata": generator.metadata,
        "seed": seed,
        "counts": {str(digit): n for digit, n in sorted(counts.items())},
        "total": sum(counts.values()),
        "format": fmt,
        "pixels": PIXELS,
        "order": ORDER,
        "command": command,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
