import json
import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from gancli.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_then_sample_then_inspect(tmp_path):
    out = tmp_path / "run"
    result = invoke("train", "--arch", "dcgan", "--data", "synthetic", "--split", "test", "--steps", 2,
                    "--batch-size", 8, "--device", "cpu", "--out", out, "--set", "model.g_channels=32",
                    "--set", "model.d_channels=8", "--set", "log_every=1")
    assert result.exit_code == 0, result.output
    checkpoint = out / "checkpoints" / "last.safetensors"
    assert str(checkpoint) in result.output and "step 2/2" in result.output

    grid = tmp_path / "grid.png"
    result = invoke("sample", checkpoint, "-n", 6, "-o", grid, "--nrow", 3)
    assert result.exit_code == 0, result.output
    from PIL import Image

    with Image.open(grid) as image:  # 2 rows x 3 columns of 32px with 2px padding
        assert image.size == (3 * 34 + 2, 2 * 34 + 2)

    result = invoke("inspect", checkpoint, "--json")
    report = json.loads(result.output)
    assert report["metadata"]["arch"] == "dcgan" and report["metadata"]["step"] == "2"
    generator = report["networks"]["generator"]
    assert generator["elements"] == sum(t["numel"] for t in report["tensors"] if t["name"].startswith("generator."))
    from gancli.checkpoints.generator import load_generator

    trainable = sum(p.numel() for p in load_generator(checkpoint).generator.parameters())
    assert generator["parameters"] == trainable < generator["elements"]

    result = invoke("inspect", checkpoint)
    assert result.exit_code == 0 and "generator parameters" in result.output
    assert "generator.project.weight" not in result.output  # the tensors wait for --tensors
    assert f"{len(report['tensors'])} tensors; --tensors lists them" in result.output
    listed = invoke("inspect", checkpoint, "--tensors")
    assert listed.exit_code == 0 and "generator.project.weight" in listed.output


def test_list_shows_builtins_with_their_package():
    result = invoke("list", "--json")
    entries = json.loads(result.output)
    dcgan = next(row for row in entries["architectures"] if row["name"] == "dcgan")
    assert dcgan["package"] == "gancli" and dcgan["status"] == "ok"
    assert any(row["name"] == "synthetic" for row in entries["datasets"])


def test_user_mistakes_are_one_line_and_a_nonzero_exit(tmp_path):
    cases = [
        (("train", "--arch", "nosuch", "--device", "cpu", "--out", tmp_path / "x"), "unknown architecture 'nosuch'; available: dcgan"),
        (("train", "--data", "nosuch", "--device", "cpu", "--out", tmp_path / "y"), "unknown dataset 'nosuch'"),
        (("train", "--set", "batch_size=lots"), "batch_size: expected int"),
        (("sample", tmp_path / "missing.safetensors"), "checkpoint not found"),
        (("inspect", tmp_path / "missing.safetensors"), "checkpoint not found"),
    ]
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code != 0, args
        assert message in result.output, result.output
        assert "Traceback" not in result.output
        assert result.output.strip().count("\n") == 0, result.output
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_debug_shows_the_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "gancli", "--debug", "inspect", str(tmp_path / "missing.safetensors")],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" in result.stderr and "CheckpointError" in result.stderr


def test_python_dash_m_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "gancli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("gancli ")


def test_a_benchmark_script_reports_bad_input_in_one_line_like_the_cli():
    script = Path(__file__).parents[1] / "benchmarks" / "cpu_execution_modes.py"
    result = subprocess.run([sys.executable, str(script), "--arch", "nope"], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("Error: unknown architecture 'nope'; available: dcgan, dcgan64"), result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr


# -- what a new user trips on ------------------------------------------------------------------------

def test_a_run_folder_stands_for_its_last_or_best_checkpoint(tiny_run, tmp_path):
    grid = tmp_path / "grid.png"
    assert invoke("sample", tiny_run.out, "-n", 4, "--out", grid).exit_code == 0 and grid.exists()
    shown = invoke("inspect", tiny_run.out, "--json")
    assert shown.exit_code == 0 and json.loads(shown.output)["path"] == str(tiny_run.last_checkpoint)
    best = invoke("sample", tiny_run.out, "--best", "-o", grid)
    assert best.exit_code == 1 and "without a best checkpoint (train with --eval-every to keep one)" in best.output


def test_train_takes_the_common_flags_by_name_and_says_1_step(tmp_path):
    out = tmp_path / "run"
    result = invoke("train", "--split", "test", "--steps", 1, "--batch-size", 8, "--device", "cpu", "-o", out,
                    "--sample-every", 1, "--log-every", 1, "--set", "model.g_channels=16", "--set", "model.d_channels=4")
    assert result.exit_code == 0, result.output
    assert f"Trained 1 step; run folder: {out}" in result.output
    assert (out / "samples" / "step-0000001.png").exists()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1


def test_an_unknown_key_suggests_the_closest():
    result = invoke("train", "--set", "sample_evry=3")
    assert result.exit_code == 1 and result.output == "Error: unknown key sample_evry; did you mean sample_every?\n"
    assert "valid keys: " in invoke("train", "--set", "zzz=1").output  # nothing close: the list


def test_help_shows_the_onnx_extra_and_completion_is_on():
    assert 'pip install "gancli[onnx]"' in invoke("export", "--help").output
    assert "--install-completion" in invoke("--help").output


def test_choice_options_list_their_choices_in_help():
    shown = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "160"}).output
    assert "stop|rollback" in shown and "auto|fp32|bf16|fp16" in shown
    refused = runner.invoke(app, ["train", "--on-nan", "ignore"], env={"COLUMNS": "160"})
    assert refused.exit_code == 2 and "'ignore' is not one of 'stop', 'rollback'" in refused.output


def test_command_line_mistakes_are_one_line_with_exit_code_2():
    for args, message in ((["train", "--steps", "abc"], "Invalid value for '--steps'"),
                          (["trian"], "No such command 'trian'. Did you mean 'train'?"),
                          (["train", "--sample-evry", "3"], "No such option: --sample-evry"),
                          (["sample"], "Missing argument 'CHECKPOINT'."),  # as --help names it
                          (["bench", "--batch-size", "0"], "Invalid value for '--batch-size'")):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
        assert message in result.output and "--help)" in result.output


# -- help and first contact -----------------------------------------------------------------------------

def help_at(columns, *args):
    result = subprocess.run([sys.executable, "-m", "gancli", *args, "--help"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": str(columns), "NO_COLOR": "1"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_train_help_at_80_columns_names_values_as_typed_and_cuts_nothing():
    shown = help_at(80, "train")
    assert "…" not in shown  # no option name, value or help cut short
    assert not re.search(r"<(str|bool|int|float|path|list\[str\])>", shown), shown  # no Python types
    for flag in ("--checkpoint-every", "--no-cuda-graphs", "--eval-metrics", "--dry-run", "--unconditional"):
        assert flag in shown
    for panel in ("Model and loss", "Data", "Schedule", "Run folder and outputs", "Evaluation", "Execution"):
        assert f"─ {panel} " in shown
    assert re.search(r"--batch-size +N +Images per batch", shown) and re.search(r"--set +KEY=VALUE", shown)
    assert re.search(r"--conditional +--unconditional +Learn", shown)  # a switch takes no value
    assert len(shown.splitlines()) < 143  # its length before its options named their values


def test_usage_names_an_argument_as_the_help_does():
    for command in ("sample", "eval", "inspect", "export"):
        assert f"Usage: gancli {command} [OPTIONS] CHECKPOINT" in help_at(80, command)
    assert "Usage: gancli report [OPTIONS] RUN" in help_at(80, "report")


def test_bare_gancli_prints_its_help_and_no_error():
    result = subprocess.run([sys.executable, "-m", "gancli"], capture_output=True, text=True,
                            env={**os.environ, "COLUMNS": "80"})
    assert "Usage: gancli [OPTIONS] COMMAND" in result.stdout and "train" in result.stdout
    assert result.stderr == ""


def test_a_missing_path_is_refused_before_torch_is_imported(tmp_path):
    missing = tmp_path / "missing.safetensors"
    for args, message in ((["sample", missing], "checkpoint not found"), (["inspect", missing], "checkpoint not found"),
                          (["eval", missing], "checkpoint not found"),
                          (["report", tmp_path / "nothing"], "holds no gancli run")):
        probe = ("import sys\nfrom gancli.cli import main\nsys.argv = ['gancli', *sys.argv[1:]]\n"
                 "try:\n    main()\nexcept SystemExit as exit:\n    code = exit.code\n"
                 "print('torch' in sys.modules, code)")
        result = subprocess.run([sys.executable, "-c", probe, *map(str, args)], capture_output=True, text=True)
        assert result.stdout.split() == ["False", "1"], (args, result.stdout, result.stderr)
        assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_a_finished_run_says_what_it_trained_and_what_to_do_next(tmp_path):
    out = tmp_path / "run"
    tiny = ("--split", "test", "--batch-size", 8, "--device", "cpu", "--set", "model.g_channels=16",
            "--set", "model.d_channels=4", "--sample-every", 2, "--log-every", 2, "--conditional")
    first = invoke("train", *tiny, "--steps", 2, "--out", out)
    assert first.exit_code == 0, first.output
    assert f"Trained 2 steps; run folder: {out}" in first.output
    assert f"Grids over training: {out / 'samples'}/ (1 PNG and timelapse.gif)" in first.output
    assert f"gancli sample {out} --class all -n 8 -o samples.png" in first.output
    assert f"gancli report {out}" in first.output and f"gancli train --resume {out}" in first.output
    resumed = invoke("train", "--resume", out, "--steps", 5)
    assert resumed.exit_code == 0, resumed.output
    assert f"Trained 3 steps, to step 5; run folder: {out}" in resumed.output  # this call's steps, not the run's
