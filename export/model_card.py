"""The model card every exported file gets: what it is, its metadata, its hashes and parity, how it was made."""
from __future__ import annotations

from pathlib import Path

from digits.contract import sha256
from digits.files import atomic_path
from export.onnx import TOLERANCE

HIDDEN = ("train_command", "export_command")  # shown as commands, not in the metadata table


def card(title: str, about: str, files: dict[Path, bytes], metadata: dict[str, str], max_diff: float) -> str:
    """Markdown for the first of ``files`` (the model); the others are its companions, written by the same export."""
    out, *companions = files
    rows = "\n".join(f"| `{k}` | {v} |" for k, v in metadata.items() if k not in HIDDEN)
    text = f"""# {title}: `{out.name}`

{about}

| metadata | value |
|---|---|
{rows}
| file size | {len(files[out]) / 1024:.0f} KiB |
| sha256 | `{sha256(files[out])}` |
| max abs diff onnxruntime vs PyTorch | {max_diff:.2e} (limit {TOLERANCE:.0e}) |
"""
    if companions:
        listed = "\n".join(f"| `{p.name}` | {metadata_role(p)} | `{sha256(files[p])}` |" for p in companions)
        text += f"""
Written beside it by the same export, each naming the file it belongs to and that file's sha256:

| file | what | sha256 |
|---|---|---|
{listed}
"""
    return text + f"""
## How it was made

```
{metadata['train_command']}
{metadata['export_command']}
```

Trained on {metadata['train_device']} in {float(metadata['train_seconds']) / 60:.1f} minutes of training wall time
over {metadata['epochs']} epochs, on {metadata['dataset']}.
"""


ROLES = {"style": "the style interface: `label` [N,10] label weights + `style` [N,S] -> `image`",
         "encoder": "the style encoder: `image` [N,1,28,28] + `digit` [N] -> `style` [N,S]",
         "steer": "steering directions for the style interface: slant, weight, width (JSON)"}


def metadata_role(path: Path) -> str:
    return ROLES[path.stem.rsplit("_", 1)[1]]


def write_card(text: str, model_out: Path) -> Path:
    """<model stem>_card.md beside the model, atomically."""
    path = model_out.parent / f"{model_out.stem}_card.md"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path
