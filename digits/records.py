"""Every record of a measurement names the committed files it measured by sha256, so a record can be
checked against the files it describes: a re-exported model makes every record of it stale until the
command that made the record runs again.

A record is a JSON file (any ``{"file": name, "sha256": hex}`` object in it names one measured file of
``artifacts/``) or a model card (its sha256 table). ``stale(root)`` lists each mismatch, with the
command that re-measures it."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from digits.files import file_sha256

ARTIFACTS = "artifacts"
# record (from the repository's root) -> the command that measures it again
RECORDS = {
    "artifacts/quality.json": "make evaluate",
    "artifacts/cas.json": "make cas MODEL={model}",
    "bench/results_cvae.json": "make bench MODEL=cvae",
    "bench/results_cgan.json": "make bench MODEL=cgan",
}
CARD_COMMAND = "make export MODEL={model}"  # a critic's card: make critic MODEL={model}
CARD_TITLE = re.compile(r"^# .*`([\w.-]+)`", re.M)
CARD_OWN = re.compile(r"^\| sha256 \| `([0-9a-f]{64})` \|", re.M)
CARD_BESIDE = re.compile(r"^\| `([\w.-]+)` \| [^|\n]* \| `([0-9a-f]{64})` \|", re.M)


def fingerprint(path: Path) -> dict[str, str]:
    """How a record names a file it measured."""
    return {"file": path.name, "sha256": file_sha256(path)}


def named_in_json(value: object) -> Iterator[tuple[str, str]]:
    """Every (file, sha256) pair anywhere in a JSON record."""
    if isinstance(value, dict):
        if isinstance(value.get("file"), str) and isinstance(value.get("sha256"), str):
            yield value["file"], value["sha256"]
        for inner in value.values():
            yield from named_in_json(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from named_in_json(inner)


def named_in_card(text: str) -> list[tuple[str, str]]:
    """The card's own file (its title names it) and the files written beside it, with their sha256."""
    title, own = CARD_TITLE.search(text), CARD_OWN.search(text)
    pairs = [(title.group(1), own.group(1))] if title and own else []
    return pairs + CARD_BESIDE.findall(text)


def records(root: Path) -> dict[Path, tuple[list[tuple[str, str]], str]]:
    """Each record of the checkout: the files it names and the command that re-measures it."""
    found = {}
    for name, command in RECORDS.items():
        if (root / name).is_file():
            found[root / name] = (list(named_in_json(json.loads((root / name).read_text()))), command)
    for card in sorted((root / ARTIFACTS).glob("*_card.md")):
        model, role = card.name.split("_")[:2]
        command = CARD_COMMAND.replace("export", "critic") if role == "critic" else CARD_COMMAND
        found[card] = (named_in_card(card.read_text()), command.format(model=model))
    return found


def stale(root: Path) -> list[str]:
    """One line per record that names no file, or a file that is missing or no longer the committed one."""
    problems = []
    for path, (named, command) in records(root).items():
        where = path.relative_to(root).as_posix()
        if not named:
            problems.append(f"{where} names no file it measured: re-measure with {command.format(model='<model>')}")
        for file, digest in named:
            target = root / ARTIFACTS / file
            now = file_sha256(target) if target.is_file() else "missing"
            if now != digest:
                model = file.split("_")[0].removesuffix(".onnx")
                problems.append(f"{where} measured {file} {digest[:12]}, the committed file is {now[:12]}: "
                                f"re-measure with {command.format(model=model)}")
    return problems
