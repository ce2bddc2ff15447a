"""`gancli datasets pack`: a folder or a dataset decoded once into one safetensors file that train,
eval, check and `gancli datasets` read; hostile packs refused in one line by real processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import TINY_MODEL, StandInFeatures
from dataset_files import SHARED_DATA
from dataset_folders import class_folder, defect_folder, refusal_problem, run_all, smooth_image, snapshot
from safetensors import safe_open
from safetensors.torch import save_file
from typer.testing import CliRunner

from gancli.cli import app
from gancli.datasets.loading import load_images
from gancli.datasets.pack import META_KEY, read_pack
from gancli.datasets.packing import make_pack

runner = CliRunner()
TINY_TRAIN = ["--steps", "2", "--batch-size", "4", "--device", "cpu", "--set", "sample_every=0",
              *[f"--set=model.{key}={value}" for key, value in TINY_MODEL.items()]]


def pack(*args) -> str:
    result = runner.invoke(app, ["datasets", "pack", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_folder_packed_with_crop_holds_exactly_what_training_on_the_folder_reads(tmp_path):
    root = defect_folder(tmp_path / "photos")
    (root / "stray.png").unlink()  # labelled: cats and dogs
    before = snapshot(root)
    said = pack(root, "-o", tmp_path / "out" / "photos.safetensors", "--size", 16)
    assert "Packed 16 images 3x16x16, 2 classes into" in said and "Skipped 4 files" in said
    assert snapshot(root) == before and os.listdir(tmp_path / "out") == ["photos.safetensors"]  # nothing else
    packed, info = read_pack(tmp_path / "out" / "photos.safetensors")
    trained = load_images(f"folder:{root}", image_size=16)
    assert torch.equal(packed.pixels, trained.pixels) and torch.equal(packed.labels, trained.labels)
    assert packed.classes == trained.classes == ("cats", "dogs")
    assert info.source["files"] == 20 and info.source["images"] == 16 and info.source["skipped"] == 4
    assert info.method == "shorter side resized to 16 (Pillow, bicubic), centre 16x16 kept" and info.fit == "crop"
    assert info.made_by.startswith("gancli ") and info.pixels_sha256 == hashlib.sha256(
        packed.pixels.numpy().tobytes()).hexdigest()
    again = make_pack(str(root), tmp_path / "again.safetensors", 16).info.source["sha256"]
    smooth_image(999).save(root / "cats" / "0.png")  # one source file changes
    changed = make_pack(str(root), tmp_path / "changed.safetensors", 16).info.source["sha256"]
    assert again == info.source["sha256"] != changed


def test_pad_centres_the_picture_on_black_and_grayscale_keeps_one_channel(tmp_path):
    root = tmp_path / "gray"
    root.mkdir()
    smooth_image(0, (40, 20)).convert("L").save(root / "wide.png")
    smooth_image(1, (20, 20)).convert("L").save(root / "square.png")
    pack(root, "-o", tmp_path / "gray.safetensors", "--size", 16, "--fit", "pad")
    images, info = read_pack(tmp_path / "gray.safetensors")
    assert images.pixels.shape == (2, 1, 16, 16) and images.labels is None and "centred on black" in info.method
    wide = images.pixels[1, 0]  # sorted: square.png, wide.png
    assert wide[:4].eq(0).all() and wide[12:].eq(0).all() and wide[4:12].float().mean() > 20
    rgb = make_pack(str(root), tmp_path / "rgb.safetensors", 16, "pad", channels=3)
    assert read_pack(rgb.path)[0].pixels.shape == (2, 3, 16, 16)


def test_a_dataset_packed_holds_what_training_resizes_it_to(tmp_path):
    pack("synthetic", "--split", "test", "-o", tmp_path / "digits.safetensors", "--size", 16)
    images, info = read_pack(tmp_path / "digits.safetensors")
    trained = load_images("synthetic", "test", image_size=16)
    assert torch.equal(images.pixels, trained.pixels) and torch.equal(images.labels, trained.labels.long())
    assert info.source == {"kind": "dataset", "name": "synthetic", "split": "test", "images": 2000,
                           "sha256": info.source["sha256"], "hashed": info.source["hashed"]}
    assert images.classes == tuple("0123456789")


def test_train_eval_and_the_datasets_list_read_a_pack(tmp_path, monkeypatch):
    from gancli.metrics.evaluation import evaluate
    from gancli.metrics.features import FeatureExtractor

    root = class_folder(tmp_path / "pets", {"cat": 6, "dog": 6})
    data_root = tmp_path / "data"
    pack(root, "-o", data_root / "pets.safetensors", "--size", 32)
    monkeypatch.chdir(tmp_path)
    trained = runner.invoke(app, ["train", "--data", "pets.safetensors", "--data-root", str(data_root),
                                  "--conditional", "--out", str(tmp_path / "run"), *TINY_TRAIN])
    assert trained.exit_code == 0, trained.output
    assert "pack " in trained.output and "12 images 3x32x32, 2 classes" in trained.output
    missing = runner.invoke(app, ["train", "--data", "elsewhere.safetensors", "--device", "cpu",
                                  "--out", str(tmp_path / "run-2")])
    assert missing.exit_code == 1 and "Error: pack elsewhere.safetensors: no such file" in missing.output
    report = evaluate(tmp_path / "run" / "checkpoints" / "last.safetensors", data=str(data_root / "pets.safetensors"),
                      num=8, metrics=("fid",), device="cpu",
                      extractor=FeatureExtractor(StandInFeatures(), "standin", 32), cache_folder=tmp_path / "cache")
    assert report["num_real"] == 12 and report["fid"] >= 0
    listed = runner.invoke(app, ["datasets", "--data-root", str(data_root), "--json"])
    rows = {row["name"]: row for row in json.loads(listed.output)}
    assert rows["pets.safetensors"]["shape"] == "3x32x32" and rows["pets.safetensors"]["present"] == ["train"]
    assert rows["pack"]["present"] is None and "NAME.safetensors" in rows["pack"]["description"]


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir() or not (SHARED_DATA / "svhn").is_dir(),
                    reason="../shared/data is absent")
def test_real_mnist_and_svhn_pack_and_load_back(tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / name).symlink_to(SHARED_DATA / "mnist" / name)
    (tmp_path / "data" / "test_32x32.mat").symlink_to(SHARED_DATA / "svhn" / "svhn_real_151_32x32.mat")
    for name, size, count, shape in (("mnist", 28, 10_000, (1, 28, 28)), ("svhn", 32, 151, (3, 32, 32))):
        out = tmp_path / f"{name}.safetensors"
        said = pack(name, "--split", "test", "--data-root", tmp_path / "data", "-o", out, "--size", size)
        assert "as decoded, not resized" in said
        images, info = read_pack(out)
        decoded = load_images(name, "test", tmp_path / "data", download=False)
        assert images.pixels.shape == (count, *shape) and torch.equal(images.pixels, decoded.pixels)
        assert torch.equal(images.labels, decoded.labels.long()) and len(images.classes) == 10


def forged(source, target, **changes) -> None:
    """`source` saved again as `target` with its pack metadata or tensors changed."""
    with safe_open(str(source), framework="pt") as handle:
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        meta = json.loads(handle.metadata()[META_KEY])
    tensors.update(changes.pop("tensors", {}))
    meta.update(changes)
    save_file(tensors, str(target), metadata={META_KEY: json.dumps(meta)})


def test_hostile_packs_are_one_line_each_in_a_real_process_and_write_nothing(tmp_path):
    root = class_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    good = tmp_path / "good.safetensors"
    make_pack(str(root), good, 16)
    data = good.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[:len(data) - 100])
    forged(good, tmp_path / "more.safetensors", count=1000)
    forged(good, tmp_path / "labels.safetensors", tensors={"labels": torch.tensor([0, 1, 12, 0, 1, 1])})
    before = snapshot(tmp_path)
    results = run_all({
        "truncated": ("train", "--data", tmp_path / "truncated.safetensors", "--device", "cpu", "--out", tmp_path / "a"),
        "claims more": ("train", "--data", tmp_path / "more.safetensors", "--device", "cpu", "--out", tmp_path / "b"),
        "labels past classes": ("datasets", "stats", tmp_path / "labels.safetensors", "--metrics", "classifier"),
    }, cwd=tmp_path)
    expected = {"truncated": ["truncated.safetensors", "damaged"],
                "claims more": ["claims 1,000 images but holds 6", "make it again"],
                "labels past classes": ["gives label 12, outside 0..1 for its 2 classes"]}
    problems = [refusal_problem(label, results[label], *named) for label, named in expected.items()]
    assert [problem for problem in problems if problem] == []
    assert snapshot(tmp_path) == before  # no run folder, no cache, nothing


def test_mistaken_requests_are_one_line_and_leave_no_pack(tmp_path):
    root = class_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    good = tmp_path / "good.safetensors"
    make_pack(str(root), good, 16)
    forged(good, tmp_path / "more.safetensors", count=1000)
    save_file({"weights": torch.zeros(3)}, str(tmp_path / "foreign.safetensors"))
    (tmp_path / "empty").mkdir()
    before = snapshot(tmp_path)
    cases = {
        "claims more, check": (["datasets", "check", tmp_path / "more.safetensors"], "claims 1,000 images"),
        "not a pack": (["datasets", "check", tmp_path / "foreign.safetensors"], "is not a gancli pack"),
        "not .safetensors": (["datasets", "pack", root, "-o", tmp_path / "pets.png", "--size", 16],
                             "ends in .safetensors"),
        "unwritable place": (["datasets", "pack", root, "-o", good / "p.safetensors", "--size", 16],
                             f"cannot write {good / 'p.safetensors'}"),
        "empty folder": (["datasets", "pack", tmp_path / "empty", "-o", tmp_path / "e.safetensors", "--size", 16],
                         "holds no files"),
        "bare folder": (["train", "--data", root, "--device", "cpu", "--out", tmp_path / "run"],
                        f"give it as --data folder:{root}"),
        "too small": (["datasets", "pack", root, "-o", tmp_path / "s.safetensors", "--size", 2],
                      "--size must be between 4 and 4096"),
    }
    for label, (args, named) in cases.items():
        result = runner.invoke(app, [str(arg) for arg in args])
        lines = result.output.strip().splitlines()
        assert result.exit_code != 0 and lines[-1].startswith("Error:") and named in lines[-1], (label, result.output)
    assert snapshot(tmp_path) == before


def test_a_pack_killed_while_writing_leaves_nothing_under_its_name(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "gancli", "datasets", "pack", "synthetic", "--split",
                                "test", "-o", str(out / "digits.safetensors"), "--size", "128"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not any(name.endswith(".tmp") for name in os.listdir(out)) and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the pack finished before it could be killed while writing"
    assert not (out / "digits.safetensors").exists()
