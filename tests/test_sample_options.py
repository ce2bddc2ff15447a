"""Every `gancli sample` option, through the real command."""

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from gancli.checkpoints.generator import load_generator
from gancli.cli import app
from gancli.sampling.latents import latents_for, parse_seeds

runner = CliRunner()


def sample(*args):
    result = runner.invoke(app, ["sample", *[str(a) for a in args], "--device", "cpu"])
    assert result.exit_code == 0, result.output
    return result


def pngs(folder):
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


def test_seed_lists_and_ranges_parse_as_stylegan_tools_do():
    assert parse_seeds("0-3") == [0, 1, 2, 3]
    assert parse_seeds("7,1-2,40") == [7, 1, 2, 40]


def test_individual_pngs_per_seed_are_reproducible_whatever_else_is_drawn(tiny_run, tmp_path):
    sample(tiny_run.last_checkpoint, "--seeds", "0-5", "--individual", tmp_path / "a", "--batch-size", 4)
    sample(tiny_run.last_checkpoint, "--seeds", "4,5,9", "--individual", tmp_path / "b", "--batch-size", 1)
    a, b = pngs(tmp_path / "a"), pngs(tmp_path / "b")
    assert sorted(a) == [f"seed{s:04d}.png" for s in range(6)]
    assert sorted(b) == ["seed0004.png", "seed0005.png", "seed0009.png"]
    assert np.array_equal(a["seed0004.png"], b["seed0004.png"]) and np.array_equal(a["seed0005.png"], b["seed0005.png"])
    assert not np.array_equal(a["seed0004.png"], a["seed0005.png"])
    assert a["seed0000.png"].shape == (32, 32, 3) and a["seed0000.png"].dtype == np.uint8


def test_npz_streams_all_images_with_their_seeds(tiny_run, tmp_path):
    sample(tiny_run.last_checkpoint, "--seeds", "3-12", "--format", "npz", "-o", tmp_path / "s.npz", "--batch-size", 3)
    sample(tiny_run.last_checkpoint, "--seeds", "3-12", "--individual", tmp_path / "png")
    with np.load(tmp_path / "s.npz") as archive:
        images, seeds = archive["images"], archive["seeds"]
    assert images.shape == (10, 32, 32, 3) and images.dtype == np.uint8
    assert seeds.tolist() == list(range(3, 13))
    assert np.array_equal(images[5], pngs(tmp_path / "png")["seed0008.png"])  # the same pixels as the PNG


def test_many_images_stream_to_numbered_files_in_small_batches(tiny_run, tmp_path):
    result = sample(tiny_run.last_checkpoint, "-n", 70, "--individual", tmp_path / "many", "--batch-size", 16)
    files = sorted(p.name for p in (tmp_path / "many").glob("*.png"))
    assert files == [f"{i:06d}.png" for i in range(70)] and "Wrote 70 images" in result.output
    grid = tmp_path / "grid.png"
    sample(tiny_run.last_checkpoint, "-n", 70, "-o", grid, "--nrow", 10, "--batch-size", 16)
    with Image.open(grid) as image:
        tile = np.asarray(image)[2 + 34 * 6:2 + 34 * 6 + 32, 2 + 34 * 9:2 + 34 * 9 + 32]  # image 69
    assert np.array_equal(tile, pngs(tmp_path / "many")["000069.png"])


def test_truncation_keeps_latents_inside_the_bound_and_changes_the_images(tiny_run, tmp_path):
    model = load_generator(tiny_run.last_checkpoint)
    plain = latents_for(model, 0, 0, seeds=list(range(20)))
    truncated = latents_for(model, 0, 0, seeds=list(range(20)), truncation=0.5)
    assert plain.abs().max() > 0.5 and truncated.abs().max() <= 0.5
    kept = plain.abs() <= 0.5
    assert torch.equal(truncated[kept], plain[kept])  # only values beyond the bound are redrawn
    sample(tiny_run.last_checkpoint, "--seeds", "0-1", "--individual", tmp_path / "t", "--truncation", 0.5)
    sample(tiny_run.last_checkpoint, "--seeds", "0-1", "--individual", tmp_path / "p")
    assert not np.array_equal(pngs(tmp_path / "t")["seed0000.png"], pngs(tmp_path / "p")["seed0000.png"])


def test_interpolate_writes_a_strip_and_an_animated_gif_that_start_and_end_at_the_seeds(tiny_run, tmp_path):
    strip = tmp_path / "walk.png"
    result = sample(tiny_run.last_checkpoint, "--seeds", "2,7,9", "--interpolate", 4, "-o", strip)
    assert "walk.gif" in result.output
    sample(tiny_run.last_checkpoint, "--seeds", "2,7,9", "--individual", tmp_path / "ends")
    ends = pngs(tmp_path / "ends")
    with Image.open(strip) as image:  # 2 rows (pairs) of 5 frames
        assert image.size == (5 * 34 + 2, 2 * 34 + 2)
        array = np.asarray(image)
    assert np.array_equal(array[2:34, 2:34], ends["seed0002.png"])
    assert np.array_equal(array[36:68, 2 + 34 * 4:34 + 34 * 4], ends["seed0009.png"])
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 9 and gif.info.get("loop") == 0  # shared end points shown once


@pytest.mark.parametrize("args, message", [
    (["--interpolate", "3"], "give at least two with --seeds"),
    (["--seeds", "0-3", "--interpolate", "0"], "--interpolate must be at least 1"),
    (["--seeds", "9-2"], "runs backwards"),
    (["--seeds", "a-b"], "--seeds: expected seeds like"),
    (["--format", "jpg"], "--format must be one of png, npz"),
    (["--format", "npz", "--individual", "x"], "cannot be combined with --format npz"),
    (["--truncation", "-1"], "--truncation must be positive"),
    (["-o", "grid.gif"], "gancli writes grids as .png, .jpg, .jpeg or .webp, and images as an array with .npz, "
                         "not '.gif' files"),
    (["-o", "grid"], "not a name without an extension"),
    (["--format", "npz", "-o", "images.png"], "--format npz writes an .npz file; name it so"),
    (["--format", "npz", "--scale", "2"], "--scale enlarges pictures"),
    (["--scale", "0"], "Invalid value for '--scale'"),
])
def test_sample_mistakes_are_one_line(tiny_run, args, message):
    result = runner.invoke(app, ["sample", str(tiny_run.last_checkpoint), *args, "--device", "cpu"])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("name, kind", [("grid.png", "PNG"), ("grid.jpg", "JPEG"), ("grid.JPEG", "JPEG"),
                                        ("grid.webp", "WEBP")])
def test_a_grid_is_written_in_the_format_its_name_says(tiny_run, tmp_path, name, kind):
    if kind == "WEBP":
        from PIL import features
        if not features.check("webp"):
            pytest.skip("this Pillow has no WebP")
    result = sample(tiny_run.last_checkpoint, "-n", 4, "-o", tmp_path / name)
    assert f"Wrote 4 images to {tmp_path / name}" in result.output
    with Image.open(tmp_path / name) as image:
        assert image.format == kind and image.size == (2 * 34 + 2, 2 * 34 + 2)


def test_a_name_in_another_format_is_refused_and_nothing_is_written(tiny_run, tmp_path):
    result = runner.invoke(app, ["sample", str(tiny_run.last_checkpoint), "-o", str(tmp_path / "grid.bmp")])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert not list(tmp_path.iterdir())


def test_scale_enlarges_each_pixel_and_an_npz_name_means_an_array(tiny_run, tmp_path):
    sample(tiny_run.last_checkpoint, "-n", 4, "-o", tmp_path / "small.png")
    sample(tiny_run.last_checkpoint, "-n", 4, "-o", tmp_path / "large.png", "--scale", 3)
    small, large = np.asarray(Image.open(tmp_path / "small.png")), np.asarray(Image.open(tmp_path / "large.png"))
    assert large.shape == (small.shape[0] * 3, small.shape[1] * 3, 3)
    assert np.array_equal(large, small.repeat(3, axis=0).repeat(3, axis=1))  # nearest neighbour, nothing blurred
    sample(tiny_run.last_checkpoint, "-n", 4, "-o", tmp_path / "images.npz")
    with np.load(tmp_path / "images.npz") as archive:
        assert archive["images"].shape == (4, 32, 32, 3)
