"""`gancli datasets check`: what a folder, a dataset or a pack holds and what training would do with
each image, on real image files written with Pillow and on the real MNIST and SVHN images."""

from __future__ import annotations

import json

import pytest
from dataset_files import SHARED_DATA
from dataset_folders import class_folder, defect_folder, refusal_problem, run_all, smooth_image, snapshot
from PIL import Image
from typer.testing import CliRunner

from gancli.cli import app
from gancli.datasets.check import check_dataset, check_folder
from gancli.datasets.loading import load_images

runner = CliRunner()


def check_json(*args) -> tuple[int, dict, str]:
    result = runner.invoke(app, ["datasets", "check", *map(str, args), "--json"])
    output = result.stdout
    return result.exit_code, json.loads(output[:output.rindex("}") + 1]), result.output


def test_check_finds_every_defect_and_says_what_training_does_with_it(tmp_path):
    root = defect_folder(tmp_path / "photos")
    before = snapshot(root)
    code, report, _ = check_json(root, "--workers", 2)
    assert code == 0
    skipped = {item["path"]: item["why"] for item in report["skipped"]}
    assert skipped == {"dogs/empty.png": "empty file (0 bytes)", "dogs/notes.txt": "not an image Pillow can read",
                       "dogs/truncated.png": "damaged or truncated (OSError: image file is truncated)",
                       "dogs/very-wide.png": "too thin: 20000x16, over 8:1",
                       "dogs/loop-a.png": "a link that loops or leads nowhere",
                       "dogs/loop-b.png": "a link that loops or leads nowhere"}
    assert report["images"] == 17 and report["files"] == 23 and report["image_size"] == 64
    assert report["converted"] == {"L to RGB": 1, "RGBA to RGB, transparency dropped": 1}
    assert report["cropped"] == 2 and report["wide"] == ["dogs/wider.png"] and report["upscaled"] == 16
    assert report["modes"] == {"RGB": 15, "L": 1, "RGBA": 1} and report["formats"] == {"PNG": 15, "JPEG": 2}
    assert report["sizes"]["32x32"] == 14 and report["sizes"]["90x30"] == 1
    assert report["duplicates"] == [["cats/0.png", "dogs/copy.png"]]
    assert report["near_duplicates"] == [["cats/1.png", "dogs/bigger.jpg"]]
    assert report["classes"] is None and "stray.png sits in" in report["unlabelled"]
    assert snapshot(root) == before  # a check writes nothing, not even the decode cache


def test_what_check_counts_is_what_training_reads(tmp_path):
    root = defect_folder(tmp_path / "photos")
    told = []
    images = load_images(f"folder:{root}", image_size=16, notify=told.append)
    report = check_folder(root, image_size=16, workers=1)
    files_skipped = [item for item in report.skipped if "link" not in item["why"]]  # links are never listed
    assert len(images) == report.images
    assert any(f"skipped {len(files_skipped)} files that are unreadable" in line for line in told)
    assert any("unlabelled, because stray.png sits in" in line for line in told)
    (root / "stray.png").unlink()
    labelled = check_folder(root, workers=1)
    trained = load_images(f"folder:{root}", image_size=16)
    assert labelled.classes == {"cats": 5, "dogs": 11} and labelled.unlabelled is None
    assert dict(zip(trained.classes, trained.labels.bincount().tolist())) == labelled.classes


def test_a_table_on_a_terminal_and_strict_fails_in_one_line_when_files_would_be_skipped(tmp_path):
    root = defect_folder(tmp_path / "photos")
    result = runner.invoke(app, ["datasets", "check", str(root)])
    assert result.exit_code == 0, result.output
    for text in ("what training would do", "dogs/truncated.png: damaged or truncated", "exact duplicates (1)",
                 "near duplicates (1)", "cats/1.png, dogs/bigger.jpg", "wider than 2:1 (1)"):
        assert text in result.output
    strict = runner.invoke(app, ["datasets", "check", str(root), "--strict"])
    assert strict.exit_code == 1 and strict.output.strip().splitlines()[-1] == \
        f"Error: --strict: training would skip 6 files of {root}"
    clean = class_folder(tmp_path / "clean", {"a": 2, "b": 2})
    ok = runner.invoke(app, ["datasets", "check", str(clean), "--strict"])
    assert ok.exit_code == 0 and "2 classes: a 2, b 2" in ok.output


def test_a_folder_of_one_grayscale_class_is_told_it_could_train_on_one_channel(tmp_path):
    root = tmp_path / "digits" / "7"
    root.mkdir(parents=True)
    for seed in range(3):
        smooth_image(seed).convert("L").save(root / f"{seed}.png")
    report = check_folder(root.parent, workers=1)
    assert report.converted == {"L to RGB": 3} and "--channels 1" in report.notes[0]


def test_a_dataset_and_a_pack_are_checked_from_their_decoded_images(tmp_path):
    report = check_dataset("synthetic", split="test")
    assert report.kind == "dataset" and report.images == 2000 and report.sizes == {"32x32": 2000}
    assert sum(report.classes.values()) == 2000 and set(report.classes) == set("0123456789")
    assert report.skipped == [] and report.duplicates == []
    root = class_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    (root / "dog" / "again.png").write_bytes((root / "cat" / "0.png").read_bytes())
    packed = runner.invoke(app, ["datasets", "pack", str(root), "-o", str(tmp_path / "pets.safetensors"), "--size", "16"])
    assert packed.exit_code == 0, packed.output
    code, pack_report, _ = check_json(tmp_path / "pets.safetensors")
    assert code == 0 and pack_report["kind"] == "pack" and pack_report["classes"] == {"cat": 3, "dog": 4}
    assert pack_report["duplicates"] == [["#0", "#6"]] and "pixels match their recorded sha256" in pack_report["notes"][0]


def test_unknown_names_and_bare_folders_are_told_apart(tmp_path):
    result = runner.invoke(app, ["datasets", "check", "nosuch"])
    assert result.exit_code == 1 and "no folder and no dataset named 'nosuch'; datasets: " in result.output
    root = class_folder(tmp_path / "pets", {"cat": 1})
    assert check_dataset(str(root)).images == 1 and check_dataset(f"folder:{root}").images == 1


@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="../shared/data/mnist is absent")
def test_real_mnist_as_a_dataset_and_as_a_folder_of_pngs(tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / name).symlink_to(SHARED_DATA / "mnist" / name)
    code, report, _ = check_json("mnist", "--split", "test", "--data-root", tmp_path / "data")
    assert code == 0 and report["images"] == 10_000 and report["modes"] == {"L": 10_000}
    assert report["classes"]["1"] == 1135 and sum(report["classes"].values()) == 10_000
    assert report["duplicates"] == [] and len(report["near_duplicates"]) <= 2  # distinct digits stay distinct
    digits = load_images("mnist", "test", tmp_path / "data", download=False)
    folder = tmp_path / "pngs"
    for index in range(300):
        label = digits.classes[int(digits.labels[index])]
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(digits.pixels[index, 0].numpy()).save(folder / label / f"{index}.png")
    as_folder = check_folder(folder, workers=2)
    assert as_folder.images == 300 and as_folder.skipped == [] and as_folder.modes == {"L": 300}
    assert as_folder.classes == {name: int((digits.labels[:300] == i).sum()) for i, name in enumerate(digits.classes)
                                 if (digits.labels[:300] == i).any()}


@pytest.mark.skipif(not (SHARED_DATA / "svhn").is_dir(), reason="../shared/data/svhn is absent")
def test_real_svhn(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test_32x32.mat").symlink_to(SHARED_DATA / "svhn" / "svhn_real_151_32x32.mat")
    report = check_dataset("svhn", split="test", data_root=tmp_path / "data")
    assert report.images == 151 and report.modes == {"RGB": 151} and sum(report.classes.values()) == 151


def test_hostile_folders_are_one_line_each_and_nothing_is_written(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "texts").mkdir()
    for index in range(3):
        (tmp_path / "texts" / f"{index}.txt").write_text("no image here")
    (tmp_path / "zero").mkdir()
    (tmp_path / "zero" / "0.png").write_bytes(b"")
    (tmp_path / "huge").mkdir()
    Image.new("L", (20000, 16)).save(tmp_path / "huge" / "wide.png")
    (tmp_path / "loop").symlink_to("loop")
    before = snapshot(tmp_path)
    results = run_all({
        "empty folder": ("datasets", "check", tmp_path / "empty"),
        "non-images": ("datasets", "check", tmp_path / "texts"),
        "0-byte png": ("datasets", "check", tmp_path / "zero"),
        "20000 px wide": ("datasets", "check", tmp_path / "huge", "--json"),
        "symlink loop": ("datasets", "check", tmp_path / "loop"),
    })
    problems = [
        refusal_problem("empty folder", results["empty folder"], "holds no files"),
        refusal_problem("non-images", results["non-images"], "none of its 3 files is an image training could use"),
        refusal_problem("0-byte png", results["0-byte png"], "none of its 1 files"),
        refusal_problem("20000 px wide", results["20000 px wide"], "none of its 1 files"),
        refusal_problem("symlink loop", results["symlink loop"], "a link that loops"),
    ]
    assert [problem for problem in problems if problem] == []
    assert "too thin: 20000x16" in results["20000 px wide"].stdout  # the report still says why
    assert "empty file (0 bytes)" in results["0-byte png"].stdout
    assert snapshot(tmp_path) == before


# -- what training says about a folder ----------------------------------------------------------

def train_on(tmp_path, *args):
    return runner.invoke(app, ["train", *map(str, args), "--device", "cpu", "--out", str(tmp_path / "run"),
                               "--steps", "1", "--set", "sample_every=0", "--set", "model.g_channels=16",
                               "--set", "model.d_channels=4", "--set", "model.latent_dim=8"])


def test_training_names_the_stray_image_the_one_skipped_file_and_the_batch_that_fits(tmp_path):
    root = class_folder(tmp_path / "pets", {"cat": 2, "dog": 2})
    smooth_image(50).save(root / "stray.png")
    (root / "cat" / "broken.png").write_bytes(b"not a png")
    result = train_on(tmp_path, "--data", f"folder:{root}", "--conditional", "--batch-size", "2")
    assert result.exit_code == 1
    assert "skipped 1 file that is unreadable, not an image, or too large or thin" in result.output
    assert result.output.strip().splitlines()[-1] == (
        f"Error: conditional: dataset folder:{root} has no class labels (a folder is labelled when its images sit "
        f"in one subfolder per class; stray.png sits in {root} itself, outside the class subfolders; "
        f"move it into one or delete it)")
    (root / "stray.png").unlink()
    small = train_on(tmp_path, "--data", f"folder:{root}", "--batch-size", "8", "--image-size", "32")
    assert small.exit_code == 1 and small.output.strip().splitlines()[-1] == (
        "Error: batch_size: the dataset has 4 images, fewer than one batch of 8; use --batch-size 4 or less")
