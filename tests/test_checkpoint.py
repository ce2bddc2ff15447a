import json
import shutil

import pytest
import torch
from conftest import TINY_MODEL
from safetensors import safe_open

from gancli.checkpoints.format import read_info
from gancli.checkpoints.generator import load_generator
from gancli.errors import CheckpointError
from gancli.sampling import generate


def test_a_checkpoint_holds_both_networks_and_describes_itself(tiny_run):
    path = tiny_run.last_checkpoint
    with safe_open(str(path), framework="pt") as f:
        keys, meta = set(f.keys()), f.metadata()
    assert any(k.startswith("generator.") for k in keys)
    assert any(k.startswith("discriminator.") for k in keys)
    assert any(k.endswith("running_mean") for k in keys)  # batch-norm buffers travel too
    assert json.loads(meta["gancli.image_shape"]) == [3, 32, 32]
    info = read_info(path)
    assert (info.arch, info.dataset, info.step, info.latent_dim, info.loss) == ("dcgan", "synthetic", 4, TINY_MODEL["latent_dim"], "bce")
    assert info.arch_package == "gancli"
    assert info.config["batch_size"] == 8


def test_sampling_needs_the_checkpoint_file_alone(tiny_run, tmp_path):
    lonely = tmp_path / "elsewhere.safetensors"
    shutil.copy(tiny_run.last_checkpoint, lonely)
    model = load_generator(lonely)
    images = generate(model, 6, seed=3)
    assert images.shape == (6, 3, 32, 32) and images.dtype == torch.uint8
    assert torch.equal(images, generate(load_generator(lonely), 6, seed=3))  # same seed, same images
    assert not torch.equal(images, generate(model, 6, seed=4))


def test_the_rebuilt_generator_matches_the_trained_one(tiny_run):
    for ema, network in ((False, "generator"), (True, "generator_ema")):
        model = load_generator(tiny_run.last_checkpoint, ema=ema)
        assert model.network == network
        with safe_open(str(tiny_run.last_checkpoint), framework="pt") as f:
            stored = {k[len(network) + 1:]: f.get_tensor(k) for k in f.keys() if k.startswith(network + ".")}
        for name, value in model.generator.state_dict().items():
            assert torch.equal(value, stored[name]), name


def test_missing_and_damaged_checkpoints_are_clear_errors(tmp_path, tiny_run):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        read_info(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable safetensors checkpoint"):
        read_info(junk)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny_run.last_checkpoint.read_bytes()[:-100])
    with pytest.raises(CheckpointError):
        load_generator(truncated)
