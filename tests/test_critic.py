"""Sampling with a critic (discriminator rejection sampling): the critic file's contract, the one sampler
that every consumer goes through choosing among candidates, and python -m training.critic end to end."""
from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
import torch

from digits.contract import ModelError
from digits.files import file_sha256
from digits.generators import Critic, load_generators, noise
from digits.idx import load_split, write_idx
from export.__main__ import main as export_main
from tests.paths import ROOT
from training import checkpoint
from training.critic import Calibrated, TorchSession, decide, splits
from training.critic import main as critic_main
from training.discriminator import Discriminator

pytestmark = pytest.mark.training


def critic_state(cap: float, candidates: int = 4, generator: str = "cgan_generator.onnx") -> dict:
    """A checkpoint as python -m training.critic writes it, of a small untrained critic."""
    torch.manual_seed(0)
    return {"critic": Discriminator(4).state_dict(), "platt": [3.0, -0.5], "epoch": 1,
            "config": {"model": "critic", "width": 4},
            "meta": {"model": "critic", "generator_model": "cgan", "generator": generator,
                     "generator_sha256": file_sha256(ROOT / "artifacts" / generator), "cap": cap,
                     "candidates": candidates, "dataset": "MNIST", "train_images": 1, "device": "cpu",
                     "torch": str(torch.__version__), "train_seconds": 0.0, "command": "python -m training.critic"}}


def export_beside_the_cgan(tmp_path, state: dict) -> tuple[int, object]:
    """python -m export --model critic into a folder holding the committed CGAN: (exit status, folder)."""
    folder = tmp_path / "artifacts"
    folder.mkdir()
    shutil.copy(ROOT / "artifacts" / "cgan_generator.onnx", folder)
    checkpoint.save(state, tmp_path / "critic.pt")
    return export_main(["--model", "critic", "--checkpoint", str(tmp_path / "critic.pt"),
                        "--out", str(folder / "cgan_critic.onnx")]), folder


def artifacts_with_critic(tmp_path, state: dict):
    """The committed CGAN in a folder of its own, with the critic exported beside it."""
    status, folder = export_beside_the_cgan(tmp_path, state)
    assert status == 0
    return folder


def test_a_critic_that_keeps_everything_leaves_every_sample_as_it_was(tmp_path):
    """Cap far below every logit: the first candidate, z itself, is always kept."""
    generator = load_generators(artifacts_with_critic(tmp_path, critic_state(cap=-1e6)), 1)["cgan"]
    digits, z = np.arange(20) % 10, noise(3, 20, generator.latent_dim)
    assert np.array_equal(generator.images(digits, z), generator.render(digits, z))
    assert (tmp_path / "artifacts" / "cgan_critic_card.md").is_file()


def test_a_critic_that_keeps_nothing_returns_each_samples_best_candidate(tmp_path):
    generator = load_generators(artifacts_with_critic(tmp_path, critic_state(cap=1e6, candidates=3)), 1)["cgan"]
    critic, digits, z = generator.critic, np.arange(10), noise(4, 10, generator.latent_dim)
    chosen = generator.images(digits, z)
    for i in range(10):
        stream = np.random.default_rng(z[i].view(np.uint32))
        candidates = np.concatenate([z[i:i + 1], stream.standard_normal((2, z.shape[1]), dtype=np.float32)])
        images = generator.render(np.full(3, digits[i]), candidates)
        best = critic.logits(images, np.full(3, digits[i])).argmax()
        assert np.array_equal(chosen[i], images[best])
    assert not np.array_equal(chosen, generator.render(digits, z))  # the critic did choose


def test_each_sample_depends_on_its_own_noise_alone(tmp_path):
    """The same (digit, z) gives the same image whatever batch it comes in: datasets stay byte-stable."""
    generator = load_generators(artifacts_with_critic(tmp_path, critic_state(cap=0.0)), 1)["cgan"]
    digits, z = np.arange(30) % 10, noise(5, 30, generator.latent_dim)
    whole = generator.images(digits, z)
    assert np.array_equal(whole[7:9], generator.images(digits[7:9], z[7:9]))
    assert np.array_equal(whole[::-1], generator.images(digits[::-1], z[::-1]))
    assert generator.files()[-1].name == "cgan_critic.onnx" and generator.describe()["critic"]


@pytest.mark.parametrize("change, message", [
    ({"candidates": "1"}, "candidates from 2 to 16"), ({"candidates": "17"}, "candidates from 2 to 16"),
    ({"cap": "nan"}, "a finite cap"),
    ({"generator_sha256": "0" * 64}, "made for another version of cgan_generator.onnx"),
])
def test_a_critic_outside_its_contract_stops_start_up(tmp_path, change, message):
    """Edited by hand after a good export (which refuses such files itself): the server will not start."""
    folder = artifacts_with_critic(tmp_path, critic_state(cap=0.0))
    model = onnx.load(str(folder / "cgan_critic.onnx"))
    for prop in model.metadata_props:
        prop.value = change.get(prop.key, prop.value)
    onnx.save(model, str(folder / "cgan_critic.onnx"))
    with pytest.raises(ModelError, match=message):
        load_generators(folder, 1)


def test_the_export_refuses_a_critic_trained_against_another_generator(tmp_path, capsys):
    state = critic_state(cap=0.0)
    state["meta"]["generator_sha256"] = "0" * 64
    status, folder = export_beside_the_cgan(tmp_path, state)
    assert status == 2
    assert "trained against another cgan_generator.onnx" in capsys.readouterr().err
    assert not (folder / "cgan_critic.onnx").exists()


def test_the_critic_learns_calibrates_and_decides_on_separate_training_digits():
    """Never the test digits: learned on what the generator trained on, calibrated and judged on the two
    halves of what it held back (or a fifth kept out, where it held nothing back)."""
    assert splits(60000, 50000) == (slice(0, 50000), slice(50000, 55000), slice(55000, 60000))
    assert splits(60000, 60000) == (slice(0, 40000), slice(40000, 50000), slice(50000, 60000))


def test_training_a_critic_end_to_end(mnist, tmp_path, capsys):
    """A tiny run on 600 real digits: a checkpoint whose calibrated logit ships, a cap, an acceptance and
    what it bought on the last 100 digits."""
    images, labels = load_split(mnist, "train")
    data = tmp_path / "data"
    data.mkdir()
    write_idx(data / "train-images-idx3-ubyte", images[:600])
    write_idx(data / "train-labels-idx1-ubyte", labels[:600].astype(np.uint8))
    out = tmp_path / "run" / "checkpoint.pt"
    assert critic_main(["--model", "cgan", "--artifacts", str(ROOT / "artifacts"), "--data-dir", str(data),
                        "--epochs", "1", "--width", "4", "--device", "cpu", "--checkpoint", str(out)]) == 0
    meta = checkpoint.load(out)["meta"]
    assert meta["learned"] == [0, 400] and meta["calibrated"] == [400, 500] and meta["decided"] == [500, 600]
    assert 0 <= meta["c2st_plain"] <= 1 and 0 <= meta["c2st_critic"] <= 1
    assert 0 < meta["acceptance"] <= 1 and np.isfinite(meta["cap"]) and meta["candidates"] == 4
    assert "export it with: python -m export --model critic" in capsys.readouterr().out


def test_deciding_compares_plain_and_chosen_samples_against_real_digits(tmp_path):
    generator = load_generators(ROOT / "artifacts", 1)["cgan"]
    critic = Calibrated(Discriminator(4), 1.0, 0.0).eval()
    sampler = Critic(tmp_path, 0.0, 2, TorchSession(critic))
    real = (generator.render(np.arange(40) % 10, noise(9, 40, generator.latent_dim)) * 255).astype(np.uint8)
    verdict = decide(generator, sampler, real, np.arange(40) % 10, seed=0)
    assert 0 <= verdict["c2st_plain"] <= 1 and 0 <= verdict["c2st_critic"] <= 1 and verdict["time_ratio"] > 1
