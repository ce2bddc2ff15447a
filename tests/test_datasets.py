"""Each dataset read through torchvision's real readers from tiny files in the official formats."""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading

import numpy as np
import pytest
import torch
from dataset_files import SHARED_DATA, write_cifar10, write_mnist, write_svhn
from PIL import Image
from typer.testing import CliRunner

from gancli.cli import app
from gancli.datasets import DataRequest, datasets
from gancli.errors import GancliError

runner = CliRunner()
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens, so a download fails at once


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    # No test here may reach the official hosts, whatever network the machine has.
    monkeypatch.setenv("GANCLI_DATA_MIRROR", UNREACHABLE)
    monkeypatch.setenv("GANCLI_DATA", str(tmp_path / "default-root"))


def load(name, root, split, download=False, **kwargs):
    return datasets.get(name).load(DataRequest(root=root, split=split, download=download, **kwargs))


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_mnist_reads_idx_files_where_torchvision_keeps_them(tmp_path):
    written = write_mnist(tmp_path, split="test", count=12, compress=True)  # .gz only, as downloaded
    images = load("mnist", tmp_path, "test")
    assert images.pixels.shape == (12, 1, 28, 28) and images.pixels.dtype == torch.uint8
    assert torch.equal(images.pixels[:, 0], torch.from_numpy(written))
    assert (tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()  # unpacked beside its .gz


def test_fashion_mnist_has_its_own_folder(tmp_path):
    written = write_mnist(tmp_path, folder="FashionMNIST", split="train", count=9)
    images = load("fashion-mnist", tmp_path, "train")
    assert torch.equal(images.pixels[:, 0], torch.from_numpy(written))
    with pytest.raises(GancliError, match="MNIST/raw/train-images-idx3-ubyte"):
        load("mnist", tmp_path, "train")


def test_svhn_reads_the_official_mat_layout_and_joins_train_and_extra(tmp_path):
    train = write_svhn(tmp_path / "train_32x32.mat", count=6, seed=1)
    extra = write_svhn(tmp_path / "extra_32x32.mat", count=4, seed=2)
    images = load("svhn", tmp_path, "train+extra")
    assert images.pixels.shape == (10, 3, 32, 32)
    expected = np.concatenate([train, extra]).transpose(0, 3, 1, 2)
    assert torch.equal(images.pixels, torch.from_numpy(expected))
    assert set(images.labels.tolist()) <= set(range(10))  # the .mat's 10 is the digit 0


def test_cifar10_reads_the_python_batches(tmp_path):
    written = write_cifar10(tmp_path, per_batch=3)
    train = load("cifar10", tmp_path, "train")
    expected = np.concatenate([written[f"data_batch_{i}"] for i in range(1, 6)])
    assert torch.equal(train.pixels, torch.from_numpy(expected))
    test = load("cifar10", tmp_path, "test")
    assert torch.equal(test.pixels, torch.from_numpy(written["test_batch"]))


def make_picture_folder(root):
    (root / "cats").mkdir(parents=True)
    (root / "dogs").mkdir()
    Image.new("RGB", (40, 24), (255, 0, 0)).save(root / "cats" / "wide.png")
    Image.new("L", (20, 50), 255).save(root / "cats" / "tall_gray.png")
    Image.new("RGB", (33, 33), (0, 0, 255)).save(root / "dogs" / "square.jpg", quality=95)
    full = root / "dogs" / "full.jpg"
    Image.new("RGB", (64, 64), (0, 255, 0)).save(full)
    (root / "dogs" / "broken.jpg").write_bytes(full.read_bytes()[:40])  # a cut-off JPEG
    (root / "notes.txt").write_text("not an image")


def test_folder_reads_png_and_jpeg_of_mixed_sizes_and_skips_bad_files(tmp_path):
    make_picture_folder(tmp_path / "pictures")
    told = []
    images = load("folder", tmp_path / "pictures", "train", image_size=16, notify=told.append)
    assert images.pixels.shape == (4, 3, 16, 16)
    mean = images.pixels.float().mean(dim=(2, 3))
    colours = {tuple(int(round(v / 255)) for v in pixel) for pixel in mean.tolist()}
    assert colours == {(1, 0, 0), (1, 1, 1), (0, 0, 1), (0, 1, 0)}
    assert any("skipped 2 files that are unreadable, not images" in line for line in told)


def test_a_folder_of_class_subfolders_is_labelled_by_them_and_the_cache_keeps_the_names(tmp_path):
    root = tmp_path / "pets"
    for name, colour in (("dog", (0, 0, 255)), ("cat", (255, 0, 0))):
        (root / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (20, 24), colour).save(root / name / f"{i}.png")
    (root / "cat" / "broken.png").write_bytes(b"not a png")  # skipped, and so is its label
    for attempt in ("decoded", "cached"):
        images = load("folder", root, "train", image_size=16)
        assert images.classes == ("cat", "dog"), attempt
        reds = images.pixels[:, 0].float().mean(dim=(1, 2)) > 127
        assert images.labels.tolist() == [0, 0, 1, 1] and reds.tolist() == [True, True, False, False], attempt
    Image.new("RGB", (16, 16)).save(root / "loose.png")  # an image in the root: no classes at all
    unlabelled = load("folder", root, "train", image_size=16)
    assert unlabelled.labels is None and unlabelled.classes is None and len(unlabelled) == 5


def test_every_labelled_dataset_names_its_classes(tmp_path):
    from gancli.datasets.loading import load_images
    write_mnist(tmp_path, folder="FashionMNIST", split="test", count=3)
    assert load_images("fashion-mnist", "test", tmp_path, download=False).classes[:2] == ("T-shirt/top", "Trouser")
    assert load_images("synthetic", "test").classes == tuple("0123456789")


def test_an_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    result = runner.invoke(app, ["train", "--data", f"folder:{tmp_path / 'empty'}", "--device", "cpu"])
    assert result.exit_code != 0
    assert "no readable images" in result.output and "Traceback" not in result.output


def test_missing_files_and_no_network_fail_with_one_clear_line_and_leave_nothing(tmp_path):
    root = tmp_path / "data"
    result = runner.invoke(app, ["train", "--data", "svhn", "--data-root", str(root), "--device", "cpu",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    message = result.output
    for part in ("svhn", str(root), "train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
                 "downloading train_32x32.mat failed"):
        assert part in message
    assert files_under(root) == []


def test_no_download_says_so_without_trying(tmp_path):
    result = runner.invoke(app, ["train", "--data", "mnist", "--data-root", str(tmp_path), "--no-download",
                                 "--device", "cpu", "--out", str(tmp_path / "run")])
    assert result.exit_code != 0
    assert "--no-download" in result.output and "MNIST/raw/train-images-idx3-ubyte" in result.output


@pytest.fixture
def wrong_file_server(tmp_path):
    """A local mirror whose train_32x32.mat is not the official file (its md5 cannot match)."""
    served = tmp_path / "served"
    served.mkdir()
    write_svhn(served / "train_32x32.mat", count=3)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_download_that_fails_its_checksum_is_never_kept(tmp_path, monkeypatch, wrong_file_server):
    monkeypatch.setenv("GANCLI_DATA_MIRROR", wrong_file_server)
    root = tmp_path / "data"
    for _ in range(2):  # the second run must not trust anything the first left behind
        with pytest.raises(GancliError, match="train_32x32.mat"):
            load("svhn", root, "train", download=True)
        assert files_under(root) == []


def test_the_decoded_cache_is_used_and_invalidated_when_a_source_changes(tmp_path):
    write_mnist(tmp_path, split="test", count=10, seed=0)
    told = []
    first = load("mnist", tmp_path, "test", notify=told.append)
    cache = tmp_path / ".gancli-cache" / "mnist-test.safetensors"
    assert cache.is_file() and "cached in" in told[-1]

    again = load("mnist", tmp_path, "test", notify=told.append)
    assert torch.equal(again.pixels, first.pixels) and "from the cache" in told[-1]

    images_file = tmp_path / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    before = images_file.stat().st_mtime_ns
    changed = write_mnist(tmp_path, split="test", count=10, seed=1)  # same size, new pixels
    os.utime(images_file, ns=(before + 10**9, before + 10**9))
    fresh = load("mnist", tmp_path, "test", notify=told.append)
    assert torch.equal(fresh.pixels[:, 0], torch.from_numpy(changed)) and "decoded" in told[-1]


def test_datasets_command_shows_shapes_splits_and_local_files(tmp_path):
    write_mnist(tmp_path, split="test", count=3, compress=True)  # still packed: no download needed
    result = runner.invoke(app, ["datasets", "--data-root", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert {"mnist", "fashion-mnist", "svhn", "cifar10", "folder", "synthetic"} <= set(rows)
    assert rows["mnist"]["present"] == ["test"] and rows["mnist"]["shape"] == str(datasets.get("mnist").native_shape)
    assert rows["svhn"]["splits"] == ["train", "test", "extra", "train+extra"] and rows["svhn"]["present"] == []
    assert rows["folder"]["present"] is None  # a folder dataset is its own root
    listed = runner.invoke(app, ["list", "--datasets", "--data-root", str(tmp_path), "--json"])
    assert json.loads(listed.output) == json.loads(result.output)


# -- the real data kept beside the project -----------------------------------------------------

def train_and_sample_shape(tmp_path, data, root, split):
    from gancli.checkpoints.generator import load_generator
    from gancli.sampling import generate

    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--arch", "dcgan", "--data", data, "--data-root", str(root),
                                 "--split", split, "--steps", "20", "--batch-size", "16", "--device", "cpu",
                                 "--out", str(out), "--set", "model.g_channels=32", "--set", "model.d_channels=8",
                                 "--set", "model.latent_dim=16", "--set", "sample_every=0"])
    assert result.exit_code == 0, result.output
    return tuple(generate(load_generator(out / "checkpoints" / "last.safetensors"), 2).shape[1:])


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="../shared/data/mnist is absent")
def test_trains_on_the_real_mnist_test_images(tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / name).symlink_to(SHARED_DATA / "mnist" / name)
    assert train_and_sample_shape(tmp_path, "mnist", tmp_path / "data", "test") == (1, 28, 28)
    assert len(load("mnist", tmp_path / "data", "test")) == 10_000


@pytest.mark.skipif(not (SHARED_DATA / "svhn").is_dir(), reason="../shared/data/svhn is absent")
def test_trains_on_real_svhn_images_in_the_official_mat_layout(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train_32x32.mat").symlink_to(SHARED_DATA / "svhn" / "svhn_real_151_32x32.mat")
    assert train_and_sample_shape(tmp_path, "svhn", tmp_path / "data", "train") == (3, 32, 32)
    images = load("svhn", tmp_path / "data", "train")
    reference = np.load(SHARED_DATA / "svhn" / "svhn_real_151.npz")
    assert torch.equal(images.pixels, torch.from_numpy(reference["images"]).permute(0, 3, 1, 2))


def test_grayscale_converts_to_the_requested_channels_and_size(tmp_path):
    from gancli.datasets.loading import load_images

    write_mnist(tmp_path, split="test", count=5)
    images = load_images("mnist", "test", tmp_path, channels=3, image_size=32)
    assert images.pixels.shape == (5, 3, 32, 32)
    assert torch.equal(images.pixels[:, 0], images.pixels[:, 2])  # gray stays gray in RGB


def test_trains_on_a_folder_given_as_folder_path(tmp_path):
    from gancli.checkpoints.format import read_info

    make_picture_folder(tmp_path / "pictures")
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--data", f"folder:{tmp_path / 'pictures'}", "--image-size", "16",
                                 "--steps", "2", "--batch-size", "2", "--device", "cpu", "--out", str(out),
                                 "--set", "model.g_channels=32", "--set", "model.d_channels=8",
                                 "--set", "model.latent_dim=16", "--set", "sample_every=0"])
    assert result.exit_code == 0, result.output
    assert "skipped 2 files that are unreadable, not images" in result.output
    assert read_info(out / "checkpoints" / "last.safetensors").image_shape.as_tuple() == (3, 16, 16)


def test_a_damaged_file_is_a_clear_error_and_is_left_alone(tmp_path):
    write_svhn(tmp_path / "train_32x32.mat", count=4)
    damaged = (tmp_path / "train_32x32.mat").read_bytes()[:300]
    (tmp_path / "train_32x32.mat").write_bytes(damaged)
    result = runner.invoke(app, ["train", "--data", "svhn", "--data-root", str(tmp_path), "--device", "cpu",
                                 "--out", str(tmp_path / "run")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "cannot read train_32x32.mat" in result.output
    assert (tmp_path / "train_32x32.mat").read_bytes() == damaged
