"""Every kind of bad input: one line naming the problem, a non-zero exit, nothing overwritten."""

import io
import json
import pickle
import struct
import zipfile

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner

from gancli.checkpoints.format import read_info
from gancli.checkpoints.generator import load_generator
from gancli.checkpoints.state import load_state
from gancli.cli import app
from gancli.config import TrainConfig, read_yaml
from gancli.errors import CheckpointError, ConfigError

runner = CliRunner()


def one_line_error(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: ") and result.output.strip().count("\n") == 0, result.output
    return result.output


def rewrite(source, target, metadata=None, tensors=None):
    """`source` saved again as `target` with its metadata or tensors changed."""
    with safe_open(str(source), framework="pt") as f:
        stored = {name: f.get_tensor(name) for name in f.keys()}
        meta = f.metadata()
    meta.update(metadata or {})
    stored.update(tensors or {})
    save_file(stored, str(target), metadata={k: v for k, v in meta.items() if v is not None})
    return target


def damaged_files(good: bytes, real_checkpoint):
    header_size = struct.unpack("<Q", good[:8])[0]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"weight": [1.0]}))
    return {
        "truncated": (good[: len(good) // 2], "file not fully covered"),
        "corrupted": (good[:8] + b"#" + good[9:], "damaged or was never one"),
        "pickle": (pickle.dumps({"generator": [1.0, 2.0]}), "it is a pickle (as torch.save writes)"),
        "zip": (archive.getvalue(), "it is a zip archive"),
        "random": (bytes(range(256)) * 3, "its header claims"),
        "empty": (b"", "the file is empty"),
        "claims_more": (struct.pack("<Q", header_size + 10**6) + good[8:], f"header claims {header_size + 10**6:,} bytes"),
    }


def test_damaged_or_foreign_files_are_one_line_errors_and_nothing_is_written(tiny_run, tmp_path):
    good = tiny_run.last_checkpoint.read_bytes()
    grid = tmp_path / "grid.png"
    for name, (data, message) in damaged_files(good, tiny_run.last_checkpoint).items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(data)
        for command in (("sample", path, "-o", grid), ("inspect", path)):
            output = one_line_error(*command)
            assert "not a readable safetensors checkpoint" in output and message in output, (name, output)
        assert path.read_bytes() == data
    assert not grid.exists()


def test_bad_metadata_missing_plugins_and_wrong_shapes_are_named(tiny_run, tmp_path):
    source = tiny_run.last_checkpoint
    cases = [
        ({"gancli.hparams": "{not json"}, None, "metadata gancli.hparams is not valid JSON"),
        ({"gancli.arch": None}, None, "not a gancli checkpoint (metadata key gancli.arch is missing)"),
        ({"gancli.arch": "stylegan9", "gancli.arch_package": "gancli-stylegan", "gancli.arch_version": "2.0"}, None,
         "made by architecture 'stylegan9' from package gancli-stylegan 2.0, which is not installed: "
         "pip install gancli-stylegan"),
        (None, {"generator_ema.project.weight": torch.zeros(7, 16)},
         "generator_ema.project.weight has shape (7, 16), the architecture expects (256, 8)"),
    ]
    for number, (metadata, tensors, message) in enumerate(cases):
        path = rewrite(source, tmp_path / f"case{number}.safetensors", metadata, tensors)
        assert message in one_line_error("sample", path, "-o", tmp_path / "grid.png")
    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))
    assert "not a gancli checkpoint" in one_line_error("sample", bare)
    state = tiny_run.out / "state" / "last.safetensors"
    assert "is training state for resuming, not a checkpoint" in one_line_error("sample", state)
    assert not (tmp_path / "grid.png").exists()


def test_bad_configs_and_output_folders_are_one_line_errors(tmp_path, tiny_run):
    broken = tmp_path / "broken.yaml"
    broken.write_text("steps: [1, 2\n")
    typo = tmp_path / "typo.yaml"
    typo.write_text("stpes: 3\n")
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("ema_decay: lots\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    cases = [
        (("--config", broken), "config file"),
        (("--config", typo), "unknown key stpes"),
        (("--config", wrong), "ema_decay: expected float, got str 'lots'"),
        (("--set", "on_nan=ignore"), "on_nan must be one of stop, rollback"),
        (("--out", tiny_run.out), "already holds a run; choose another --out, pass --resume"),
        (("--out", blocker / "run"), f"cannot write the run folder {blocker / 'run'}"),
        (("--resume", "auto"), "--resume auto needs --out"),
    ]
    config_before = (tiny_run.out / "config.yaml").read_bytes()
    for args, message in cases:
        output = one_line_error("train", "--split", "test", "--device", "cpu", "--steps", 1, *args)
        assert message in output, output
    assert (tiny_run.out / "config.yaml").read_bytes() == config_before
    assert "is not valid YAML (line 2)" in one_line_error("train", "--config", broken)


# -- arbitrary bytes never escape as anything but gancli's own error --------------------------------

def read_checkpoint(path):
    try:
        read_info(path)
        load_generator(path)
    except CheckpointError:
        pass  # the only failure a damaged file may cause


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    from conftest import tiny_config

    from gancli.training.reporting import Reporter
    from gancli.training.run.trainer import train

    out = tmp_path_factory.mktemp("fuzz") / "run"
    result = train(tiny_config(out, steps=1, sample_every=0, model={"g_channels": 8, "d_channels": 4, "latent_dim": 4}),
                   reporter=Reporter())
    return result.last_checkpoint.read_bytes(), (out / "state" / "last.safetensors").read_bytes()


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_both_ways(path, data: bytes) -> None:
    """Read `data` as a checkpoint and as training state: any failure must be a CheckpointError."""
    path.write_bytes(data)
    read_checkpoint(path)
    try:
        load_state(path)
    except CheckpointError:
        pass


@FUZZ
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_give_only_checkpoint_errors(tmp_path, data):
    read_both_ways(tmp_path / "fuzz.safetensors", data)


@FUZZ
@given(which=st.sampled_from([0, 1]), edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), max_size=6),
       cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_mutated_checkpoints_give_only_checkpoint_errors(tmp_path, checkpoint_bytes, which, edits, cut):
    data = bytearray(checkpoint_bytes[which])
    for position, value in edits:  # the header (metadata and tensor table) is the first few KB
        data[position % len(data)] = value
    if cut is not None:
        data = data[:cut]
    read_both_ways(tmp_path / "mutated.safetensors", bytes(data))


@FUZZ
@given(text=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                      st.dictionaries(st.sampled_from(sorted(TrainConfig.__dataclass_fields__) + ["x"]),
                                      st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5),
                                                st.lists(st.integers(), max_size=2)), max_size=4).map(json.dumps)))
def test_arbitrary_config_files_give_only_config_errors(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        TrainConfig.from_dict(read_yaml(path))
    except ConfigError:
        pass


# -- bounded input: refused quickly, in one short line ----------------------------------------------

BOMB = "\n".join(["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] +
                 [f"{b}: &{b} [{', '.join(['*' + a] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")] +
                 ["model: *i"]) + "\n"


def test_a_yaml_bomb_and_oversized_configs_are_refused_before_they_are_built(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB)  # nine levels of nine aliases: 387 million strings once expanded
    big = tmp_path / "big.yaml"
    big.write_text("steps: [" + ", ".join(["1"] * 600_000) + "]\n")  # 3.6 MB
    long_list = tmp_path / "long.yaml"
    long_list.write_text("steps: [" + ", ".join(["1"] * 150_000) + "]\n")  # under 1 MiB, 150,001 values
    deep = tmp_path / "deep.yaml"
    deep.write_text("model: " + "[" * 40 + "]" * 40 + "\n")
    for path, message in ((bomb, "holds more than 100,000 values (aliases expanded)"),
                          (big, f"has {big.stat().st_size:,} bytes; a config holds at most 1,048,576"),
                          (long_list, "holds more than 100,000 values"), (deep, "nests deeper than 32 levels")):
        output = one_line_error("train", "--config", path)
        assert message in output and len(output) < 200, output
        with pytest.raises(ConfigError):
            read_yaml(path)


def test_errors_about_huge_values_stay_short_and_non_finite_numbers_are_refused(tmp_path):
    long_value = tmp_path / "long.yaml"
    long_value.write_text("seed: [" + ", ".join(["7"] * 50_000) + "]\n")
    output = one_line_error("train", "--config", long_value)
    assert output.startswith("Error: seed: expected int, got list [7, 7, 7, 7, ...]") and len(output) < 120
    assert len(one_line_error("train", "--set", "on_nan=" + "x" * 100_000)) < 150
    for value in (".inf", "-.inf", ".nan", "1e999"):
        assert "lr: expected a finite number" in one_line_error("train", "--set", f"lr={value}")
    from gancli.architectures import architectures

    with pytest.raises(ConfigError, match="model.lr_g: expected a finite number"):
        architectures.get("dcgan").make_config({"lr_g": float("inf")})


def test_an_image_size_beyond_the_architecture_or_memory_is_one_line(tmp_path):
    out = tmp_path / "run"
    output = one_line_error("train", "--split", "test", "--device", "cpu", "--image-size", 100_000, "--out", out)
    assert "images at 100000x100000 need about" in output and "choose a smaller --image-size" in output
    output = one_line_error("train", "--arch", "dcgan64", "--split", "test", "--image-size", 32, "--out", out)
    assert "image_size: arch dcgan64 cannot make 3x32x32 images" in output
    assert not out.exists()  # a refused run leaves no folder behind


def test_thin_and_huge_folder_images_are_skipped_from_their_header(tmp_path):
    from PIL import Image

    from gancli.datasets.loading import load_images

    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for index in range(3):
        Image.new("RGB", (40, 30), (index * 60, 0, 0)).save(pictures / f"ok-{index}.png")
    Image.new("L", (400_000, 1)).save(pictures / "thin.png")  # 400 KB of pixels, 3 GB once resized
    Image.new("L", (9000, 8000)).save(pictures / "huge.png")  # 72 megapixels
    told = []
    images = load_images(f"folder:{pictures}", image_size=16, notify=told.append)
    assert images.pixels.shape == (3, 3, 16, 16)
    assert any("skipped 2 files that are unreadable, not images, or too large or thin" in line for line in told)


def test_sampling_builds_the_generator_alone_whatever_the_metadata_says_of_the_discriminator(tiny_run, tmp_path):
    import subprocess
    import sys

    info = read_info(tiny_run.last_checkpoint)
    hparams = dict(info.hparams, d_channels=2048)  # a discriminator of about 4 GiB, never to be built
    claimed = tmp_path / "claims.safetensors"
    rewrite(tiny_run.last_checkpoint, claimed, {"gancli.hparams": json.dumps(hparams)})
    argv = ["gancli", "sample", str(claimed), "-n", "4", "--device", "cpu", "-o", str(tmp_path / "grid.png")]
    measured = (f"import resource, sys\nfrom gancli.cli import main\nsys.argv = {argv!r}\ntry:\n    main()\n"
                f"finally:\n    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n")
    result = subprocess.run([sys.executable, "-c", measured], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    peak_gib = int(result.stderr.split()[-1]) / 2**20  # KiB on Linux
    assert peak_gib < 2, peak_gib

    shapes = dict(info.hparams, g_channels=info.hparams["g_channels"] * 64)  # checked against the tensors first
    wrong = tmp_path / "wrong.safetensors"
    rewrite(tiny_run.last_checkpoint, wrong, {"gancli.hparams": json.dumps(shapes)})
    assert "has shape" in one_line_error("sample", wrong, "-o", tmp_path / "x.png")


def test_inspect_says_when_a_safetensors_file_is_not_a_gancli_checkpoint(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"weight": torch.zeros(2, 3)}, str(plain), metadata={"made_by": "someone else"})
    result = runner.invoke(app, ["inspect", str(plain)])
    assert result.exit_code == 1
    assert "weight" in result.output  # the tensors are still shown
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {plain} is a safetensors file but not a gancli checkpoint: it has no gancli.* metadata "
        f"(its tensors are listed above)")


def fail_appends_to_metrics(monkeypatch):
    """Appending to any metrics.jsonl fails as on a full disk."""
    import errno
    from pathlib import Path

    real_open = Path.open

    def full_disk(path, mode="r", *rest, **kw):
        if path.name == "metrics.jsonl" and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *rest, **kw)

    monkeypatch.setattr(Path, "open", full_disk)


def test_a_full_disk_while_logging_metrics_is_one_line_and_keeps_the_checkpoint(tmp_path, monkeypatch):
    out = tmp_path / "run"
    args = ["train", "--split", "test", "--device", "cpu", "--batch-size", "8", "--out", str(out),
            "--set", "sample_every=0", "--set", "log_every=2", "--set", "checkpoint_every=2",
            "--set", "model.g_channels=16", "--set", "model.d_channels=4"]
    assert runner.invoke(app, [*args, "--steps", "2"]).exit_code == 0
    last = out / "checkpoints" / "last.safetensors"
    before = last.read_bytes()
    fail_appends_to_metrics(monkeypatch)
    result = runner.invoke(app, [*args, "--resume", str(out), "--steps", "4"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.splitlines()[-1] == (f"Error: cannot append to {out / 'metrics.jsonl'}: No space left "
                                              f"on device; the last checkpoint, {last}, is intact")
    assert last.read_bytes() == before


def test_a_full_disk_before_the_first_checkpoint_does_not_claim_one_is_intact(tmp_path, monkeypatch):
    out = tmp_path / "run"
    fail_appends_to_metrics(monkeypatch)
    result = runner.invoke(app, ["train", "--split", "test", "--device", "cpu", "--batch-size", "8", "--out", str(out),
                                 "--steps", "4", "--set", "sample_every=0", "--set", "log_every=1",
                                 "--set", "checkpoint_every=4", "--set", "model.g_channels=16",
                                 "--set", "model.d_channels=4"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.splitlines()[-1] == (f"Error: cannot append to {out / 'metrics.jsonl'}: No space left "
                                              f"on device; no checkpoint had been written yet")
    assert not (out / "checkpoints" / "last.safetensors").exists()

