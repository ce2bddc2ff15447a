"""The quality benchmarks run end to end at a tiny size, so they cannot rot between full runs."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_files import SHARED_DATA

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="../shared/data/mnist is absent")
BENCHMARKS = Path(__file__).parents[1] / "benchmarks"
TINY = ["--limit", "600", "--heldout", "100", "--steps", "2", "--num", "40", "--no-fid", "--device", "cpu",
        "--classifier-min-steps", "0", "--data", str(SHARED_DATA / "mnist")]


def run(script: str, *args) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *map(str, args)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


def test_the_quality_benchmark_trains_both_recipes_and_scores_them_on_held_out_images(tmp_path):
    out = tmp_path / "quality"
    result = run("quality.py", *TINY, "--set", "model.g_channels=16", "--set", "model.d_channels=8",
                 "--set", "model.latent_dim=16", "--out", out)
    report = json.loads((out / "report.json").read_text())
    assert report["train_images"] == 500 and report["heldout_images"] == 100
    recipes = {row["recipe"]: row for row in report["runs"]}
    assert set(recipes) == {"unconditional", "conditional"}
    assert "conditional_accuracy" in recipes["conditional"] and "cas" in recipes["conditional"]
    assert "conditional_accuracy" not in recipes["unconditional"]
    assert (out / "conditional-seed0.png").is_file() and (out / "unconditional-seed0.png").is_file()
    assert "| conditional | 0 | 2 |" in result.stdout and "FID: not asked for" in result.stdout


def test_the_reference_comparison_trains_both_sides_per_seed_and_flags_collapse(tmp_path):
    out = tmp_path / "comparison"
    result = run("reference_comparison.py", *TINY, "--seeds", "0,1", "--reference-width", "8",
                 "--set", "model.g_channels=16", "--set", "model.d_channels=8", "--out", out)
    report = json.loads((out / "report.json").read_text())
    assert [(r["side"], r["seed"]) for r in report["runs"]] == \
        [("gancli", 0), ("reference", 0), ("gancli", 1), ("reference", 1)]
    assert all(r["steps"] == 2 and r["collapsed"] == (r["classes_covered"] < 8) for r in report["runs"])
    for side in ("gancli", "reference"):  # a collapsed run is flagged and left out of its side's mean
        kept = [r for r in report["runs"] if r["side"] == side and not r["collapsed"]]
        assert report["means"][side]["kept"] == len(kept) and report["means"][side]["runs"] == 2
        assert f"| {side} mean of {len(kept)} of 2 |" in result.stdout
    assert (out / "reference-seed1.png").is_file() and (out / "gancli-seed0.png").is_file()


def test_the_equal_compute_comparison_copies_each_side_at_every_budget(tmp_path):
    out = tmp_path / "equal"
    tiny = [arg for arg in TINY if arg not in ("--steps", "2")]
    result = run("equal_compute.py", *tiny, "--minutes", "0.01,0.03", "--seeds", "0", "--reference-width", "8",
                 "--set", "model.g_channels=16", "--set", "model.d_channels=8", "--out", out)
    report = json.loads((out / "report.json").read_text())
    runs = {(r["side"], r["minutes"]): r for r in report["runs"]}
    assert set(runs) == {(side, m) for side in ("gancli", "reference") for m in (0.01, 0.03)}
    for side in ("gancli", "reference"):  # the later copy has trained longer, from the same run
        assert 0 < runs[side, 0.01]["steps"] < runs[side, 0.03]["steps"]
        assert (out / f"{side}-seed0-0.03min.png").is_file()
    assert "| 0.03 | gancli | 1 |" in result.stdout and (out / "fid-vs-minutes.svg").is_file()


def test_the_equal_compute_comparison_runs_one_side_of_another_recipe_and_joins_reports(tmp_path):
    recipe = tmp_path / "mnist-narrow.yaml"
    recipe.write_text("arch: dcgan\ndata: mnist\nbatch_size: 32\nmodel:\n  g_channels: 16\n  d_channels: 8\n")
    tiny = [arg for arg in TINY if arg not in ("--steps", "2")]
    run("equal_compute.py", *tiny, "--minutes", "0.01", "--seeds", "0", "--recipe", recipe, "--sides", "gancli",
        "--out", tmp_path / "narrow")
    runs = json.loads((tmp_path / "narrow" / "report.json").read_text())["runs"]
    assert [(r["side"], r["minutes"]) for r in runs] == [("gancli mnist-narrow", 0.01)]  # no reference run
    assert (tmp_path / "narrow" / "gancli-mnist-narrow-seed0-0.01min.png").is_file()
    run("equal_compute.py", *tiny, "--minutes", "0.01", "--seeds", "0", "--reference-width", "8",
        "--sides", "reference", "--out", tmp_path / "reference")
    joined = run("equal_compute.py", "--table", tmp_path / "narrow" / "report.json",
                 tmp_path / "reference" / "report.json", "--out", tmp_path / "joined")
    assert "| 0.01 | gancli mnist-narrow | 1 |" in joined.stdout and "| 0.01 | reference | 1 |" in joined.stdout
    assert (tmp_path / "joined" / "fid-vs-minutes.svg").is_file()  # empty here: --no-fid


def test_the_recipe_comparison_trains_every_recipe_and_variant_per_seed(tmp_path):
    out = tmp_path / "recipes"
    result = run("recipes.py", *TINY, "--seeds", "0,1", "--recipes", BENCHMARKS.parent / "examples" / "mnist.yaml",
                 "--variant", "wide:batch_size=32,model.lr_g=0.001", "--set", "model.g_channels=16",
                 "--set", "model.d_channels=8", "--out", out)
    report = json.loads((out / "report.json").read_text())
    assert [(r["recipe"], r["seed"], r["batch_size"]) for r in report["runs"]] == \
        [("mnist", 0, 16), ("wide", 0, 32), ("mnist", 1, 16), ("wide", 1, 32)]
    assert all(r["epochs"] == 5 and r["train_images"] == 500 for r in report["runs"])  # MNIST's default 5
    assert "| wide | mnist | 32 | 5 | 2 | 2 |" in result.stdout and (out / "wide-seed1.png").is_file()
    joined = run("recipes.py", "--table", out / "report.json", out / "report.json")
    assert "| wide | mnist | 32 | 5 | 2 | 4 |" in joined.stdout  # two reports' seeds, one row


def test_the_recipe_table_scores_a_run_at_earlier_epochs_from_the_checkpoints_it_wrote_there(tmp_path):
    out = tmp_path / "recipes"
    by_epochs = [arg for arg in TINY if arg not in ("--steps", "2")]
    result = run("recipes.py", *by_epochs, "--epochs", "3", "--score-at", "1,2,5", "--seeds", "0",
                 "--recipes", BENCHMARKS.parent / "examples" / "mnist.yaml", "--set", "batch_size=250",
                 "--set", "model.g_channels=16", "--set", "model.d_channels=8", "--out", out)
    report = json.loads((out / "report.json").read_text())
    # 500 training images in batches of 250: two steps an epoch; 5 is past the run and ignored
    assert [(r["epochs"], r["steps"]) for r in report["runs"]] == [(1, 2), (2, 4), (3, 6)]
    assert sorted(p.name for p in (out / "mnist-seed0" / "checkpoints").glob("step-*")) == \
        ["step-0000002.safetensors", "step-0000004.safetensors", "step-0000006.safetensors"]
    assert (out / "mnist-seed0-epoch1.png").is_file() and (out / "mnist-seed0.png").is_file()
    for epochs, steps in ((1, 2), (2, 4), (3, 6)):  # a table row each
        assert f"| mnist | mnist | 250 | {epochs} | {steps} | 1 |" in result.stdout


def test_the_recipe_table_scores_a_conditional_recipe_on_its_own_held_out_split_and_names_missing_data(tmp_path):
    out = tmp_path / "recipes"
    examples = BENCHMARKS.parent / "examples"
    result = run("recipes.py", *TINY, "--seeds", "0", "--recipes", f"{examples / 'quickstart.yaml'},{examples / 'svhn.yaml'}",
                 "--data-root", f"svhn={tmp_path / 'no-svhn'}", "--set", "model.g_channels=16",
                 "--set", "model.d_channels=8", "--out", out)
    report = json.loads((out / "report.json").read_text())
    skipped, run_row = report["runs"]
    assert skipped["recipe"] == "svhn" and skipped["skipped"].startswith("not measured: ")
    assert run_row["recipe"] == "quickstart" and run_row["data"] == "synthetic" and run_row["conditional"]
    assert run_row["epochs"] == 14 and run_row["heldout_images"] == 100  # the recipe's own epochs
    assert 0 <= run_row["conditional_accuracy"] <= 1 and (out / "quickstart-seed0.png").is_file()
    assert "| svhn | not measured: " in result.stdout and "| quickstart | synthetic | 64 | 14 | 2 | 1 |" in result.stdout


@pytest.mark.skipif(not (SHARED_DATA / "svhn").is_dir(), reason="../shared/data/svhn is absent")
def test_the_small_svhn_check_trains_on_the_real_images_and_measures_diversity(tmp_path):
    out = tmp_path / "svhn"
    run("svhn_small.py", "--epochs", "1", "--seeds", "0", "--set", "model.g_channels=64", "--out", out,
        "--data", SHARED_DATA / "svhn" / "svhn_real_151_32x32.mat")
    (row,) = json.loads((out / "report.json").read_text())
    assert row["seed"] == 0 and row["steps"] == 151 // 16  # the recipe's batch of 16, one pass
    assert 0 < row["diversity"] and 0 < row["copying"]
    assert (out / "seed0.png").is_file()


def test_a_quality_benchmark_without_the_mnist_files_says_so_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, str(BENCHMARKS / "quality.py"), "--data", str(tmp_path), "--no-fid",
                             "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip() == (f"Error: --data {tmp_path}: no t10k-images-idx3-ubyte.gz or "
                                     "t10k-labels-idx1-ubyte.gz there (the MNIST test set's IDX files)")
