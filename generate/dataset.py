"""One synthetic dataset: sample every digit, write one format and its card, all or nothing."""
from __future__ import annotations

import json
import os
from pathlib import Path

from tqdm import tqdm

from digits.files import atomic_folder
from digits.generators import OnnxGenerator, load_generators
from digits.idx import DataError
from generate.dataset_card import CARD_NAME, make_card
from generate.sampling import images_in_batches, latents
from generate.writers import FORMATS

BATCH_SIZE = 128
WORKERS = os.cpu_count() or 1


def open_generator(artifacts: Path, name: str) -> OnnxGenerator:
    """The generator called ``name`` among the checked ``*.onnx`` files of ``artifacts``, one core per call."""
    generators = load_generators(artifacts, 1)
    if name not in generators:
        raise DataError(f"--model {name!r}: no such generator in {artifacts} (there: {', '.join(sorted(generators))})")
    return generators[name]


def check_target(out: Path, force: bool) -> bool:
    """Whether ``out`` exists and is to be replaced; refuse anything but an empty folder or a dataset."""
    if not out.exists():
        return False
    if not force:
        raise DataError(f"{out}: already exists (pass --force to replace it)")
    if not out.is_dir() or not ((out / CARD_NAME).is_file() or not any(out.iterdir())):
        raise DataError(f"{out}: not a dataset folder (no {CARD_NAME}), so --force will not replace it")
    return True


def build(generator: OnnxGenerator, counts: dict[int, int], seed: int, fmt: str, out: Path, *,
          force: bool = False, batch_size: int = BATCH_SIZE, workers: int = WORKERS, command: str = "") -> dict:
    """Write the dataset and its card to ``out`` atomically and return the card."""
    replace = check_target(out, force)
    labels, z = latents(counts, generator.latent_dim, seed)
    with tqdm(total=len(labels), unit="img", desc=f"{generator.name} digits", disable=None) as bar:
        images = images_in_batches(generator, labels, z, batch_size, workers, bar.update)
    card = make_card(generator, counts, seed, fmt, command)
    with atomic_folder(out, replace) as folder:
        FORMATS[fmt](folder, images, labels)
        (folder / CARD_NAME).write_text(json.dumps(card, indent=2) + "\n")
    return card
