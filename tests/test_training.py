"""Short real training runs on CPU: outputs, exact resume, and one-line errors from the CLI."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from digits.files import atomic_path
from digits.idx import load_split
from tests.training_helpers import assert_same_run, cpu_recipe
from training import checkpoint
from training.cvae import CVAE
from training.ema import averaged_weights, ema_with_warmup
from training.models import GENERATORS
from training.train import main

pytestmark = pytest.mark.training

LIMIT = 256


def tiny_args(mnist: Path, run_dir: Path, epochs: int = 2, *extra: str, model: str = "cvae") -> list[str]:
    return ["--model", model, "--data-dir", str(mnist), "--limit", str(LIMIT), "--batch-size", "64", "--width", "8",
            "--latent-dim", "4", "--epochs", str(epochs), "--device", "cpu", "--run-dir", str(run_dir),
            "--ema-decay", "0.99", *extra]  # a weight average in both models: the resume tests cover its state


def cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m training ...`` as a user runs it."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "training", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Two shared CPU cores: torch's default thread pool oversubscribes them and runs many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def model(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def two_epochs(mnist, model, tmp_path_factory):
    """An uninterrupted two-epoch run; tests only read it."""
    run_dir = tmp_path_factory.mktemp("two_epochs") / "run"
    assert main(tiny_args(mnist, run_dir, model=model)) == 0
    return run_dir


@pytest.fixture(scope="module")
def resumed(mnist, model, tmp_path_factory):
    """The same run, stopped after epoch 1 and resumed to epoch 2."""
    run_dir = tmp_path_factory.mktemp("resumed") / "run"
    assert main(tiny_args(mnist, run_dir, 1, model=model)) == 0
    assert main(tiny_args(mnist, run_dir, 2, "--resume", model=model)) == 0
    return run_dir


# --- a real run -----------------------------------------------------------------------------------

def test_run_writes_checkpoints_grid_and_metrics(two_epochs):
    for name in ("checkpoint.pt", "generator_epoch_1.pt", "generator_epoch_2.pt", "grid_epoch_2.png"):
        assert (two_epochs / name).is_file(), name
    assert not list(two_epochs.glob(".*.tmp"))


def test_checkpoint_describes_the_run(two_epochs, model):
    state = checkpoint.load(two_epochs / "checkpoint.pt")
    assert state["epoch"] == 2 and len(state["rng"]) == 1 and state["meta"]["model"] == model
    assert state["config"]["latent_dim"] == 4 and state["config"]["width"] == 8
    assert state["meta"]["train_images"] == LIMIT and state["meta"]["device"] == "cpu"
    shipped = checkpoint.load(two_epochs / "generator_epoch_1.pt")
    weights = {"cvae": "model", "cgan": "generator"}[model]  # the whole CVAE: its encoder ships too
    assert shipped["epoch"] == 1 and weights in shipped and "recipe" not in shipped


def test_both_models_ship_their_weight_average_and_the_cvae_its_prior_fitted_to_it(two_epochs, model, mnist):
    """The epoch file holds the EMA's weights, not the trained ones; the CVAE's sampling prior in it is
    the one fitted to the averaged encoder (a prior averaged across fits would mix unrelated components)."""
    recipe = checkpoint.load(two_epochs / "checkpoint.pt")["recipe"]
    shipped = checkpoint.load(two_epochs / "generator_epoch_2.pt")
    trained, weights = {"cvae": ("model", "model"), "cgan": ("G", "generator")}[model]
    average = averaged_weights(recipe["ema"])
    assert all(torch.equal(average[k], v) for k, v in shipped[weights].items())
    assert any(not torch.equal(recipe[trained][k], v) for k, v in shipped[weights].items() if v.is_floating_point())
    if model == "cvae":
        config = shipped["config"]
        cvae = CVAE(4, 8, config["prior_components"], config["fine"])
        cvae.load_state_dict(shipped["model"])
        prior = {k: v.clone() for k, v in cvae.decoder.prior.state_dict().items()}
        images, labels = load_split(mnist, "train")
        cvae.eval().fit_prior(torch.from_numpy(images[:LIMIT]).unsqueeze(1), torch.from_numpy(labels[:LIMIT]).long())
        for name, value in cvae.decoder.prior.state_dict().items():
            torch.testing.assert_close(value, prior[name], msg=name)


def test_a_full_checkpoint_ships_the_same_weight_average_as_its_epoch_file(two_epochs, model):
    """export rebuilds a generator from either file a run writes: from the full checkpoint too it is the weight
    average (which the last epoch file holds), never the trained weights."""
    module = GENERATORS[model]
    full = module.shipped(checkpoint.load(two_epochs / "checkpoint.pt"))
    epoch = module.shipped(checkpoint.load(two_epochs / "generator_epoch_2.pt"))
    assert set(full) == set(epoch)
    for name, part in full.items():
        want = epoch[name].state_dict()
        assert all(torch.equal(value, want[key]) for key, value in part.state_dict().items()), name


def test_grid_is_a_10_row_png_with_distinct_rows(two_epochs):
    with Image.open(two_epochs / "grid_epoch_2.png") as image:
        assert image.format == "PNG" and image.mode == "L"
        assert image.size == (10 * (28 + 2) + 2,) * 2
        pixels = np.asarray(image)
    rows = [pixels[2 + 30 * r: 30 * (r + 1)].tobytes() for r in range(10)]
    assert len(set(rows)) == 10


def test_metrics_has_one_finite_line_per_epoch(two_epochs, model):
    lines = metrics(two_epochs)
    assert [line["epoch"] for line in lines] == [1, 2]
    for line in lines:
        for key in GENERATORS[model].Recipe.loss_names:
            assert math.isfinite(line[key]), line


# --- resume -----------------------------------------------------------------------------------------

def test_resume_matches_an_uninterrupted_run(two_epochs, resumed):
    assert_same_run(resumed, two_epochs, atol=1e-6)


def test_resume_logs_the_same_losses(two_epochs, resumed, model):
    keys = ("epoch", *GENERATORS[model].Recipe.loss_names)
    assert [{k: line[k] for k in keys} for line in metrics(resumed)] == \
        [{k: line[k] for k in keys} for line in metrics(two_epochs)]


def test_rerun_without_resume_refuses_and_keeps_checkpoint(root, mnist, two_epochs, model):
    before = (two_epochs / "checkpoint.pt").read_bytes()
    result = cli(root, *tiny_args(mnist, two_epochs, 3, model=model))
    assert result.returncode != 0
    assert "--resume" in one_error_line(result.stderr)
    assert (two_epochs / "checkpoint.pt").read_bytes() == before
    assert not (two_epochs / "generator_epoch_3.pt").exists()


def test_resume_without_checkpoint_is_one_line_error(mnist, tmp_path, capsys):
    run_dir = tmp_path / "empty"
    assert main(tiny_args(mnist, run_dir, 1, "--resume")) != 0
    assert str(run_dir / "checkpoint.pt") in one_error_line(capsys.readouterr().err)


def test_resume_takes_the_architecture_from_the_checkpoint(root, mnist, tmp_path):
    run_dir = tmp_path / "run"
    assert main(tiny_args(mnist, run_dir, 1)) == 0
    plain = cli(root, "--data-dir", str(mnist), "--limit", str(LIMIT), "--epochs", "2", "--device", "cpu",
                "--batch-size", "64", "--run-dir", str(run_dir), "--resume")
    assert plain.returncode == 0, plain.stderr
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 2


def test_resume_with_other_architecture_flags_is_one_line_error(root, mnist, tmp_path):
    run_dir = tmp_path / "run"
    assert main(tiny_args(mnist, run_dir, 1)) == 0
    result = cli(root, "--data-dir", str(mnist), "--limit", str(LIMIT), "--epochs", "2", "--device", "cpu",
                 "--run-dir", str(run_dir), "--resume", "--width", "16")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--width" in one_error_line(result.stderr)


# --- bad input: exit 2, no traceback ----------------------------------------------------------------

@pytest.mark.parametrize("flag, value", [("--epochs", "0"), ("--batch-size", "0"), ("--lr", "-1")])
def test_bad_cli_value_exits_2_without_traceback(root, mnist, tmp_path, flag, value):
    args = tiny_args(mnist, tmp_path / "run") + [flag, value]
    result = cli(root, *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and flag in result.stderr
    assert not (tmp_path / "run").exists()


def test_missing_data_dir_exits_2_with_one_line(root, tmp_path):
    missing = tmp_path / "nowhere"
    result = cli(root, "--data-dir", str(missing), "--epochs", "1", "--device", "cpu",
                 "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert str(missing) in one_error_line(result.stderr)


# --- atomic writes ----------------------------------------------------------------------------------

def test_atomic_path_replaces_target_on_success(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old")
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp != target
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old"
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


def test_atomic_path_keeps_old_target_when_body_raises(tmp_path):
    target = tmp_path / "model.bin"
    target.write_bytes(b"old contents")
    with pytest.raises(RuntimeError, match="crash"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half written")
            raise RuntimeError("crash")
    assert target.read_bytes() == b"old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["model.bin"]


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_the_critic_gets_gradients_from_its_own_step_only(name):
    """Both models train against a critic: in one training step each of its weights receives exactly one
    gradient (the critic's step); the generator's step runs through a frozen critic, never into it."""
    recipe = cpu_recipe(name)
    received = []
    for p in recipe.D.parameters():
        p.register_hook(lambda grad: received.append(grad))
    weights = len(list(recipe.D.parameters()))
    x = torch.rand(8, 1, 28, 28)
    recipe.train_step(x, torch.arange(8), 1.0)
    assert len(received) == weights


def test_the_cgan_weight_average_follows_every_step():
    """The average starts as the trained weights after the first step and then moves towards each step's weights
    by its warm-up decay (training/ema.py): it is updated after every step, from the trained generator."""
    recipe = cpu_recipe("cgan")
    x, digit = torch.rand(16, 1, 28, 28), torch.arange(16) % 10
    trained = []
    for _ in range(2):
        recipe.train_step(x, digit, 0.5)
        trained.append({name: value.detach().clone() for name, value in recipe.G.named_parameters()})
    average = dict(recipe.ema.module.named_parameters())
    step = ema_with_warmup(1.0)  # after one update the warm-up's decay, 2/11, is below any --ema-decay's
    for name, second in trained[1].items():
        torch.testing.assert_close(average[name].detach(), step(trained[0][name], second, torch.tensor(1)), msg=name)
    assert any(not torch.equal(trained[0][name], second) for name, second in trained[1].items())


def test_the_cvae_balances_its_critic_at_the_decoders_last_layer():
    """The adversarial weight is the ratio of the reconstruction's and the critic's gradient norms at the
    decoder's last layer (Esser et al., 2021), taken there: both gradients pass through it, then the step's own."""
    torch.manual_seed(0)
    recipe = cpu_recipe("cvae")
    seen: list[torch.Tensor] = []
    hook = recipe.model.decoder.out[-1].weight.register_hook(lambda grad: seen.append(grad.detach().clone()))
    try:
        weight = recipe.train_step(torch.rand(16, 1, 28, 28), torch.arange(16) % 10, 100.0)["adv_weight"]
    finally:
        hook.remove()
    assert len(seen) == 3, "the two gradients the weight is made of were not taken at the decoder's last layer"
    recon, critic, step = seen
    balance = (recon.norm() / (critic.norm() + 1e-4)).clamp(max=recipe.balance_max)
    torch.testing.assert_close(weight, recipe.adversarial * balance)
    torch.testing.assert_close(step, recon + weight * critic)
