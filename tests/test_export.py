"""ONNX export of a tiny real run, and the committed artifact, under the generator contract."""
from __future__ import annotations

import errno
import hashlib
import itertools
import json
import shutil
from pathlib import Path
from typing import NoReturn

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import export.verify
from digits.contract import ModelError, check_encoder
from digits.generators import load_generators
from digits.idx import load_split
from digits.judging import open_judge
from export.__main__ import main as export_main
from export.checkpoints import rebuild
from export.choose import HeldOut, chosen
from export.choose import main as choose_main
from export.onnx import TOLERANCE, parity, to_onnx
from tests.faults import half_write
from training.conditioning import Styled
from training.models import GENERATORS
from training.train import main as train_main

pytestmark = pytest.mark.training

ARTIFACT_NAMES = {name: module.ARTIFACT for name, module in GENERATORS.items()}

LATENT_DIM = 4
NOISE_DIM = {"cvae": LATENT_DIM + 1, "cgan": LATENT_DIM}  # the CVAE's prior takes one more coordinate
LIMIT = 256
EPOCHS = 2


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def metadata(path: Path) -> dict[str, str]:
    return session(path).get_modelmeta().custom_metadata_map


def run_generator(path: Path, digit: np.ndarray, z: np.ndarray) -> np.ndarray:
    return session(path).run(["image"], {"digit": digit.astype(np.int64), "z": z.astype(np.float32)})[0]


def assert_contract(path: Path, model: str) -> int:
    """The generator contract; returns the model's latent size."""
    sess = session(path)
    inputs = {i.name: i for i in sess.get_inputs()}
    (image,) = sess.get_outputs()
    assert set(inputs) == {"digit", "z"} and image.name == "image"
    assert inputs["digit"].type == "tensor(int64)" and inputs["z"].type == "tensor(float)"
    assert image.type == "tensor(float)"
    batch = inputs["digit"].shape[0]
    assert isinstance(batch, str) and len(inputs["digit"].shape) == 1
    assert inputs["z"].shape[0] == batch and image.shape[0] == batch and image.shape[1:] == [1, 28, 28]
    latent_dim = inputs["z"].shape[1]
    assert isinstance(latent_dim, int) and latent_dim >= 1
    rng = np.random.default_rng(0)
    for n in (1, 5):
        out = run_generator(path, np.arange(n) % 10, rng.standard_normal((n, latent_dim)))
        assert out.shape == (n, 1, 28, 28) and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
    assert max(op.version for op in onnx.load(str(path)).opset_import if op.domain in ("", "ai.onnx")) >= 18
    meta = metadata(path)
    assert meta["model"] == model and meta["latent_dim"] == str(latent_dim)
    assert meta["dataset"].startswith("MNIST") and int(meta["train_images"]) > 0 and int(meta["epochs"]) >= 1
    return latent_dim


def shipped(checkpoint: Path) -> dict[str, torch.nn.Module]:
    """The modules the export rebuilt from a checkpoint: what the ONNX files must match."""
    return rebuild(checkpoint)[1]


def export_to(checkpoint: Path, out: Path) -> int:
    return export_main(["--checkpoint", str(checkpoint), "--out", str(out)])


@pytest.fixture(scope="module", params=sorted(ARTIFACT_NAMES))
def model(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def run_dir(mnist, model, tmp_path_factory):
    """A tiny two-epoch training run."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # two shared cores: the default thread pool oversubscribes them
    run = tmp_path_factory.mktemp("train") / "run"
    assert train_main(["--model", model, "--data-dir", str(mnist), "--limit", str(LIMIT), "--batch-size", "64",
                       "--width", "8", "--latent-dim", str(LATENT_DIM), "--epochs", str(EPOCHS), "--device", "cpu",
                       "--run-dir", str(run)]) == 0
    yield run
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def exported(run_dir, model, tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / ARTIFACT_NAMES[model]
    assert export_to(run_dir / "checkpoint.pt", out) == 0
    return out


# --- export of a tiny run ---------------------------------------------------------------------------

def test_export_writes_model_style_grid_and_card(exported, model):
    """And the CVAE's style encoder; the CGAN has none (a GAN has no way back from an image to its noise)."""
    stem = exported.stem
    encoder = [f"{model}_encoder.onnx"] if model == "cvae" else []
    assert sorted(p.name for p in exported.parent.iterdir()) == sorted(
        [f"{stem}_card.md", exported.name, f"{stem}_grid.png", f"{model}_style.onnx", f"{model}_steer.json", *encoder])
    assert "sha256" in (exported.parent / f"{stem}_card.md").read_text()


def test_the_steering_file_names_the_exported_style_file_and_loads_with_it(exported, model):
    """Written by the same export, paired by hash: the web app steers the style interface it was found on."""
    record = json.loads((exported.parent / f"{model}_steer.json").read_text())
    style = exported.parent / f"{model}_style.onnx"
    assert record["style"] == style.name and record["style_sha256"] == hashlib.sha256(style.read_bytes()).hexdigest()
    steer = load_generators(exported.parent, 1)[model].steer
    assert steer.directions.shape == (3, STYLE_DIM[model]) and (steer.sd > 0).all()


STYLE_DIM = {"cvae": LATENT_DIM, "cgan": LATENT_DIM}


def test_style_file_meets_its_contract_and_names_its_generator(exported, model):
    """The style interface: label weights [N,10] and style [N,S] -> image, paired with the generator by hash."""
    style_path = exported.parent / f"{model}_style.onnx"
    sess = session(style_path)
    inputs = {i.name: (i.type, i.shape[1:]) for i in sess.get_inputs()}
    assert inputs == {"label": ("tensor(float)", [10]), "style": ("tensor(float)", [STYLE_DIM[model]])}
    meta = metadata(style_path)
    assert meta["role"] == "style" and meta["model"] == model and meta["generator"] == exported.name
    assert meta["generator_sha256"] == hashlib.sha256(exported.read_bytes()).hexdigest()
    rng = np.random.default_rng(5)
    label = np.eye(10, dtype=np.float32)[[3, 3, 8]]
    label[1] = 0.5 * label[0] + 0.5 * np.eye(10, dtype=np.float32)[8]
    style = rng.standard_normal((3, STYLE_DIM[model])).astype(np.float32)
    (images,) = sess.run(["image"], {"label": label, "style": style})
    assert images.shape == (3, 1, 28, 28) and 0 <= images.min() and images.max() <= 1


def test_style_matches_pytorch_for_digits_and_blends(run_dir, exported, model):
    generator = shipped(run_dir / "checkpoint.pt")["generator"]
    rng = np.random.default_rng(6)
    eye = np.eye(10, dtype=np.float32)
    t = rng.random((16, 1)).astype(np.float32)
    label = (1 - t) * eye[rng.integers(0, 10, 16)] + t * eye[rng.integers(0, 10, 16)]
    style = rng.standard_normal((16, STYLE_DIM[model])).astype(np.float32)
    with torch.no_grad():
        want = Styled(generator).eval()(torch.from_numpy(label), torch.from_numpy(style)).numpy()
    got = session(exported.parent / f"{model}_style.onnx").run(["image"], {"label": label, "style": style})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_a_style_one_hot_draws_what_the_generator_draws_for_that_code(run_dir, model):
    """One code path: the style interface with a one-hot label is the generator's own renderer."""
    generator = shipped(run_dir / "checkpoint.pt")["generator"]
    digit = torch.tensor([0, 4, 9])
    width = STYLE_DIM[model] if model == "cgan" else LATENT_DIM
    code = torch.randn(3, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        direct = generator.render(torch.eye(10)[digit], code)
        styled = Styled(generator).eval()
        means, scale = styled.means, styled.scale
        through_style = styled(torch.eye(10)[digit], torch.linalg.solve(scale, (code - means[digit]).T).T)
    torch.testing.assert_close(through_style, direct, atol=1e-4, rtol=0)


# --- the CVAE's style encoder (docs/contracts.md) ----------------------------------------------------

CVAE_ONLY = pytest.mark.parametrize("model", ["cvae"], indirect=True)  # the CGAN has no encoder


@pytest.fixture(scope="module")
def encoder_path(exported) -> Path:
    return exported.parent / "cvae_encoder.onnx"


@pytest.fixture(scope="module")
def real_digits(mnist) -> tuple[np.ndarray, np.ndarray]:
    images, labels = load_split(mnist, "test")
    return (images[:64] / 255.0).astype(np.float32)[:, None], labels[:64].astype(np.int64)


@CVAE_ONLY
def test_encoder_meets_its_contract_and_names_its_generator(exported, encoder_path, real_digits):
    sess = session(encoder_path)
    assert {i.name: (i.type, i.shape[1:]) for i in sess.get_inputs()} == {
        "image": ("tensor(float)", [1, 28, 28]), "digit": ("tensor(int64)", [])}
    assert [(o.name, o.shape[1:]) for o in sess.get_outputs()] == [("style", [STYLE_DIM["cvae"]])]
    meta = metadata(encoder_path)
    assert meta["role"] == "encoder" and meta["model"] == "cvae" and meta["style_dim"] == str(STYLE_DIM["cvae"])
    assert meta["generator"] == exported.name
    assert meta["generator_sha256"] == hashlib.sha256(exported.read_bytes()).hexdigest()
    check_encoder(encoder_path, sess, exported.name, meta["generator_sha256"], STYLE_DIM["cvae"])
    images, digits = real_digits
    for n in (1, 5, 64):  # dynamic N
        (styles,) = sess.run(["style"], {"image": images[:n], "digit": digits[:n]})
        assert styles.shape == (n, STYLE_DIM["cvae"]) and np.isfinite(styles).all()


@CVAE_ONLY
def test_encoder_matches_pytorch(run_dir, encoder_path, real_digits):
    modules = shipped(run_dir / "checkpoint.pt")
    images, digits = real_digits
    with torch.no_grad():
        want = modules["encoder"](torch.from_numpy(images), torch.from_numpy(digits)).numpy()
    got = session(encoder_path).run(["style"], {"image": images, "digit": digits})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


@CVAE_ONLY
def test_the_style_read_from_a_digit_is_drawn_back_as_the_decoder_draws_its_posterior_mean(
        run_dir, exported, encoder_path, real_digits):
    """The encoder speaks the style interface's units: style interface(encoder(x, d)) = decoder(mu(x, d))."""
    modules = shipped(run_dir / "checkpoint.pt")
    images, digits = real_digits
    label = np.eye(10, dtype=np.float32)[digits]
    with torch.no_grad():
        mu, _ = modules["encoder"].model.encode(torch.from_numpy(images), torch.from_numpy(digits))
        want = modules["generator"].render(torch.from_numpy(label), mu).numpy()
    styles = session(encoder_path).run(["style"], {"image": images, "digit": digits})[0]
    got = session(exported.parent / "cvae_style.onnx").run(["image"], {"label": label, "style": styles})[0]
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


@CVAE_ONLY
def test_an_encoder_from_another_export_is_refused_at_load_naming_it(run_dir, encoder_path, tmp_path):
    """Generator and style interface from epoch 1, the encoder from the final export: one line naming the file."""
    assert export_to(run_dir / "generator_epoch_1.pt", tmp_path / "cvae_decoder.onnx") == 0
    assert (tmp_path / "cvae_encoder.onnx").exists(), "an epoch file exports with its own encoder"
    shutil.copy(encoder_path, tmp_path / "cvae_encoder.onnx")
    with pytest.raises(ModelError, match="cvae_encoder.onnx: made for another version of cvae_decoder.onnx"):
        load_generators(tmp_path, 1)


@CVAE_ONLY
def test_an_encoder_without_its_style_interface_is_refused_at_load(exported, encoder_path, tmp_path):
    for path in (exported, encoder_path):
        shutil.copy(path, tmp_path / path.name)
    refused = "cvae_encoder.onnx: an encoder for cvae_decoder.onnx, which has no style file"
    with pytest.raises(ModelError, match=refused):
        load_generators(tmp_path, 1)


def test_export_refuses_a_checkpoint_of_another_model(run_dir, model, tmp_path, capsys):
    other = "cgan" if model == "cvae" else "cvae"
    out = tmp_path / "model.onnx"
    code = export_main(["--model", other, "--checkpoint", str(run_dir / "checkpoint.pt"), "--out", str(out)])
    assert code == 2  # a user error: exit 2, as for every command
    assert f"holds a {model}, not a {other}" in capsys.readouterr().err
    assert not out.exists()


def test_export_meets_contract(exported, model):
    assert assert_contract(exported, model) == NOISE_DIM[model]


def test_export_metadata_describes_the_run(exported):
    meta = metadata(exported)
    assert meta["train_images"] == str(LIMIT) and meta["epochs"] == str(EPOCHS)
    assert meta["dataset"] == f"MNIST (first {LIMIT} training images)"
    assert meta["train_device"] == "cpu" and "--latent-dim 4" in meta["train_command"]


def test_export_matches_pytorch(run_dir, exported, model):
    generator = shipped(run_dir / "checkpoint.pt")["generator"]
    rng = np.random.default_rng(1)
    digit, z = rng.integers(0, 10, 32), rng.standard_normal((32, NOISE_DIM[model])).astype(np.float32)
    with torch.no_grad():
        want = generator(torch.from_numpy(digit), torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(run_generator(exported, digit, z), want, atol=1e-4, rtol=0)


def test_export_from_generator_checkpoint(run_dir, model, tmp_path):
    out = tmp_path / ARTIFACT_NAMES[model]
    assert export_to(run_dir / "generator_epoch_1.pt", out) == 0
    assert assert_contract(out, model) == NOISE_DIM[model] and metadata(out)["epochs"] == "1"
    generator = shipped(run_dir / "generator_epoch_1.pt")["generator"]
    digit, z = np.arange(10), np.random.default_rng(2).standard_normal((10, NOISE_DIM[model])).astype(np.float32)
    with torch.no_grad():
        want = generator(torch.from_numpy(digit), torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(run_generator(out, digit, z), want, atol=1e-4, rtol=0)


def test_export_refuses_when_parity_fails(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(export.verify, "parity", lambda *args: 0.5)
    out = tmp_path / "cvae_decoder.onnx"
    out.write_bytes(b"previous model")
    assert export_to(run_dir / "checkpoint.pt", out) != 0
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "0.5" in err
    assert out.read_bytes() == b"previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["cvae_decoder.onnx"]


def disk_full() -> NoReturn:
    raise OSError(errno.ENOSPC, "No space left on device")


def test_export_that_fails_half_way_through_its_write_keeps_the_previous_file(run_dir, tmp_path, monkeypatch,
                                                                              capsys):
    out = tmp_path / "cvae_decoder.onnx"
    out.write_bytes(b"previous model")
    monkeypatch.setattr(Path, "write_bytes", half_write(disk_full))  # the ONNX bytes: half on disk, then ENOSPC
    assert export_to(run_dir / "checkpoint.pt", out) != 0
    assert capsys.readouterr().err.strip() == "error: No space left on device"
    assert out.read_bytes() == b"previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["cvae_decoder.onnx"]


@CVAE_ONLY
def test_export_that_fails_on_its_style_file_keeps_the_previous_set(run_dir, model, tmp_path, monkeypatch):
    """The generator is written, then the style file fails: no generator may land without its extensions."""
    out = tmp_path / "cvae_decoder.onnx"
    assert export_to(run_dir / "checkpoint.pt", out) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.onnx")}
    write_bytes = Path.write_bytes

    def fail_on_style(path: Path, data: bytes) -> int:
        if "cvae_style.onnx" in path.name:
            half_write(disk_full)(path, data)
        return write_bytes(path, data)

    monkeypatch.setattr(Path, "write_bytes", fail_on_style)
    assert export_main(["--checkpoint", str(run_dir / "generator_epoch_1.pt"), "--out", str(out)]) != 0
    assert {p.name: p.read_bytes() for p in tmp_path.glob("*.onnx")} == before
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_export_of_missing_checkpoint_is_one_line_error(tmp_path, capsys):
    missing = tmp_path / "nope.pt"
    assert export_to(missing, tmp_path / "cvae_decoder.onnx") != 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(missing) in lines[0]
    assert list(tmp_path.iterdir()) == []


# --- choosing an epoch ---------------------------------------------------------------------------------

def test_choose_scores_each_epoch_on_the_digits_the_run_held_back(run_dir, mnist, root, tmp_path, capsys):
    runs = tmp_path / "run"
    runs.mkdir()
    for epoch in (1, 2):
        shutil.copy(run_dir / f"generator_epoch_{epoch}.pt", runs)
    assert choose_main(["--run-dir", str(runs), "--data-dir", str(mnist), "--judge", str(root / "artifacts/judge.onnx"),
                        "--per-digit", "10"]) == 0
    record = json.loads((runs / "choice.json").read_text())
    assert record["held_out"] == len(load_split(mnist, "train")[1]) - LIMIT
    assert sorted(record["epochs"]) == ["1", "2"] and record["chosen"] in (1, 2)
    for scores in record["epochs"].values():
        assert set(scores) == {"c2st", "accuracy", "accuracy_min_digit", "fid_real_ratio", "legibility",
                               "style_slant", "style_ink"}
        assert 0.5 <= scores["c2st"] <= 1 and 0 <= scores["accuracy"] <= 1
        assert scores["fid_real_ratio"] > 1.5  # two epochs on 256 digits: far from real handwriting
    assert f"python -m export --checkpoint {runs}/generator_epoch_{record['chosen']}.pt" in capsys.readouterr().out


def test_choose_measures_its_c2st_against_held_back_training_digits_never_the_test_digits(mnist, root, tmp_path):
    """The C2ST's real side is drawn from the training digits the run held back (past its --limit): the test
    digits are the final measure (python -m evaluate), never the one an epoch is chosen by."""
    epoch_file = tmp_path / "generator_epoch_1.pt"
    torch.save({"config": {"limit": 59_000}, "epoch": 1}, epoch_file)  # all HeldOut reads of an epoch file
    held_out = HeldOut(epoch_file, mnist, open_judge(root / "artifacts" / "judge.onnx", 1), per_digit=20, seed=0)
    train, _ = load_split(mnist, "train")
    held_back = {digit.tobytes() for digit in train[59_000:]}
    versus = np.rint(held_out.versus * 255).astype(np.uint8)
    assert len(versus) == 200 and all(digit.tobytes() in held_back for digit in versus)


def test_choose_refuses_a_run_that_held_no_digits_back(run_dir, mnist, tmp_path, capsys):
    state = torch.load(run_dir / "generator_epoch_1.pt", weights_only=True)
    state["config"]["limit"] = 0
    torch.save(state, tmp_path / "generator_epoch_1.pt")
    assert choose_main(["--run-dir", str(tmp_path), "--data-dir", str(mnist)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "held back 0" in err and "--limit" in err


def test_choose_takes_the_epoch_meeting_most_targets_then_the_lowest_c2st():
    good = {"accuracy": 0.996, "accuracy_min_digit": 0.991, "fid_real_ratio": 1.4, "legibility": 0.995,
            "style_slant": 0.3, "style_ink": 0.3}
    table = {1: {**good, "c2st": 0.55, "accuracy": 0.99}, 2: {**good, "c2st": 0.58}, 3: {**good, "c2st": 0.57}}
    assert chosen(table) == 3
    table[3]["style_ink"] = 0.4
    assert chosen(table) == 2


# --- the committed artifact -------------------------------------------------------------------------

@pytest.fixture(scope="module", params=sorted(ARTIFACT_NAMES))
def artifact(root, request):
    path = root / "artifacts" / ARTIFACT_NAMES[request.param]
    assert path.is_file(), f"{path} is not committed: train on the full offline MNIST and run python -m export"
    return path


def test_artifact_meets_contract(artifact):
    assert_contract(artifact, metadata(artifact)["model"])
    assert artifact.name == ARTIFACT_NAMES[metadata(artifact)["model"]]


def test_artifact_was_trained_on_mnist_holding_at_most_a_sixth_back_for_choosing_it(artifact):
    """All 60,000 training digits, or the first 50,000 or more with the rest held out for export.choose."""
    meta = metadata(artifact)
    assert int(meta["train_images"]) >= 50000 and int(meta["epochs"]) >= 10
    assert meta["dataset"] == ("MNIST" if meta["train_images"] == "60000" else
                               f"MNIST (first {meta['train_images']} training images)")


def test_artifact_samples_vary_with_z(artifact):
    latent_dim = int(metadata(artifact)["latent_dim"])
    z = np.random.default_rng(3).standard_normal((5, latent_dim))
    images = run_generator(artifact, np.full(5, 7), z)
    for a, b in itertools.combinations(images, 2):
        assert np.abs(a - b).max() > 0.05


@pytest.mark.parametrize("name", ["cvae", "cgan"])
def test_a_style_file_beside_another_version_of_its_generator_is_refused_at_load(root, tmp_path, name):
    """The committed style file beside its generator re-saved with one more metadata entry (another file,
    another sha256, still a valid generator): start-up stops with one line naming the style file."""
    generator = onnx.load(root / "artifacts" / ARTIFACT_NAMES[name])
    onnx.helper.set_model_props(generator, {**{p.key: p.value for p in generator.metadata_props}, "note": "retrained"})
    onnx.save(generator, tmp_path / ARTIFACT_NAMES[name])
    shutil.copy(root / "artifacts" / f"{name}_style.onnx", tmp_path)
    with pytest.raises(ModelError, match=f"{name}_style.onnx: made for another version of {ARTIFACT_NAMES[name]}"):
        load_generators(tmp_path, 1)


def test_parity_compares_onnxruntime_with_pytorch():
    """The same small module exported: parity within TOLERANCE; the module changed after export: caught."""
    module = torch.nn.Sequential(torch.nn.Linear(10, 28 * 28), torch.nn.Sigmoid(), torch.nn.Unflatten(1, (1, 28, 28)))
    feeds = [{"x": np.random.default_rng(n).standard_normal((n, 10)).astype(np.float32)} for n in (1, 5)]
    model = to_onnx(module.eval(), (torch.from_numpy(feeds[1]["x"]),), ["x"], ["image"], {"model": "tiny"})
    onnx_session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert parity(onnx_session, module, feeds) <= TOLERANCE
    with torch.no_grad():
        module[0].bias += 0.01
    assert parity(onnx_session, module, feeds) > 10 * TOLERANCE
