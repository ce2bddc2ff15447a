"""A plugin cannot break another plugin or gancli: failures at construction, at build and at
every call are one line naming the plugin; runs stay reachable by `package:name`; the stable
`gancli.plugin` surface and the old module names keep working."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import pytest
from conftest import TINY_MODEL, tiny_config
from typer.testing import CliRunner

from gancli.checkpoints.format import read_info
from gancli.cli import app
from gancli.testing import ConformanceError, check_dataset, check_logger
from gancli.training import Reporter, train

runner = CliRunner()

RINGS = """
import torch
from gancli.datasets import DatasetSource, Images, ImageShape

class Rings(DatasetSource):
    native_shape = ImageShape(3, 16, 16)
    splits = ("train",)
    labelled = True
    class_names = ("small", "large")
    description = "rings from {package}"

    def load(self, request):
        g = torch.Generator().manual_seed({seed})
        pixels = torch.randint(0, 256, (64, 3, 16, 16), dtype=torch.uint8, generator=g)
        return Images(pixels, torch.arange(64) % 2 + {label_shift}, self.class_names)
"""


def install_rings(install_package, package, seed=0, label_shift=0):
    module = package.replace("-", "_")
    install_package(package, {"gancli.datasets": {"rings": f"{module}:Rings"}},
                    modules={module: RINGS.format(package=package, seed=seed, label_shift=label_shift)})


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def one_line(result) -> str:
    assert result.exit_code != 0 and "Traceback" not in result.output, result.output
    assert result.output.strip().count("\n") == 0, result.output
    return result.output


def test_a_plugin_whose_constructor_raises_is_one_broken_entry_and_spares_the_rest(install_package):
    install_package("fragile-gans", {"gancli.architectures": {"fragile": "fragile_gans:Fragile"},
                                     "gancli.datasets": {"fragile-data": "fragile_gans:FragileData"}},
                    modules={"fragile_gans": (
                        "from gancli.architectures.dcgan import DCGAN\n"
                        "from gancli.datasets.synthetic import SyntheticDigits\n"
                        "class Fragile(DCGAN):\n    def __init__(self):\n        raise RuntimeError('no GPU quota')\n"
                        "class FragileData(SyntheticDigits):\n    def __init__(self):\n        raise OSError('no mount')\n")},
                    version="3.1")
    checked = invoke("list", "--check")
    assert checked.exit_code == 1 and "Traceback" not in checked.output
    assert "  fragile                fragile-gans 3.1  BROKEN: no GPU quota" in checked.output
    assert "2 broken (shown above)" in checked.output and "  dcgan " in checked.output
    as_json = invoke("list", "--json")
    rows = {row["name"]: row for row in json.loads(as_json.output)["datasets"]}
    assert as_json.exit_code == 0 and rows["fragile-data"]["status"] == "broken" and rows["mnist"]["status"] == "ok"
    assert invoke("list", "--json", "--check").exit_code == 1
    described = invoke("list", "fragile")
    assert described.exit_code == 0 and "broken: " in described.output and "Traceback" not in described.output
    datasets_listed = invoke("datasets")
    assert datasets_listed.exit_code == 0 and "mnist" in datasets_listed.output and "Traceback" not in datasets_listed.output


def test_list_check_fails_for_a_required_package_that_is_missing(install_package):
    install_rings(install_package, "ring-gans")
    assert invoke("list", "--check", env={"GANCLI_REQUIRE_PLUGINS": "ring-gans"}).exit_code == 0
    missing = invoke("list", "--check", env={"GANCLI_REQUIRE_PLUGINS": "ring-gans,gancli-wandb"})
    assert missing.exit_code == 1 and "required by GANCLI_REQUIRE_PLUGINS but not installed: gancli-wandb" in missing.output


def test_one_package_is_disabled_by_name_and_the_others_stay(install_package):
    install_rings(install_package, "ring-gans")
    install_package("other-gans", {"gancli.architectures": {"other": "gancli.architectures.dcgan:DCGAN"}})
    shown = invoke("list", env={"GANCLI_DISABLE_PLUGINS": "ring-gans"}).output
    assert "ring-gans" not in shown and "other-gans" in shown and "  dcgan " in shown


def test_a_run_on_a_plugin_dataset_stays_reachable_when_another_package_registers_its_name(install_package, tmp_path):
    install_rings(install_package, "ring-gans", seed=1)
    out = tmp_path / "run"
    train(tiny_config(out, data="rings", split=None, steps=2, sample_every=0, conditional=True), reporter=Reporter())
    assert read_info(out / "checkpoints" / "last.safetensors").dataset_package == "ring-gans"
    install_rings(install_package, "copied-rings", seed=2)  # now a bare `rings` is ambiguous

    for data, steps in ((None, 3), ("ring-gans:rings", 4), ("rings", 5)):
        args = ["train", "--resume", out, "--steps", steps] + (["--data", data] if data else [])
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    assert read_info(out / "checkpoints" / "last.safetensors").step == 5
    refused = invoke("train", "--resume", out, "--data", "copied-rings:rings", "--steps", 6)
    assert refused.exit_code != 0 and "data was 'rings', now 'copied-rings:rings'" in refused.output
    scored = invoke("eval", out / "checkpoints" / "last.safetensors", "--metrics", "classifier", "--num", 16)
    assert "registered by both" not in scored.output, scored.output


def test_a_generator_that_returns_the_wrong_shape_is_refused_at_build_naming_the_plugin(install_package, tmp_path):
    install_package("flat-gans", {"gancli.architectures": {"flat": "flat_gans:Flat"}}, version="0.4", modules={
        "flat_gans": ("from torch import nn\nfrom gancli.architectures.dcgan import DCGAN\n"
                      "class Flat(DCGAN):\n    def build(self, shape, config, classes=0):\n"
                      "        g, d = super().build(shape, config, classes)\n"
                      "        return nn.Sequential(g, nn.Flatten()), d\n")})
    args = ["train", "--arch", "flat", "--steps", 1, "--batch-size", 8, "--split", "test", "--device", "cpu",
            "--out", tmp_path / "run"] + [f"--set=model.{k}={v}" for k, v in TINY_MODEL.items()]
    message = one_line(invoke(*args))
    assert "arch flat-gans:flat 0.4: its generator made (2, 3072) from 2 latents, not 2 images of 3x32x32" in message
    assert not list(tmp_path.glob("run/samples/*.png"))


def test_a_discriminator_with_the_wrong_output_and_a_build_that_raises_are_one_line(install_package, tmp_path):
    install_package("odd-gans", {"gancli.architectures": {"pooled": "odd_gans:Pooled", "raising": "odd_gans:Raising"}},
                    modules={"odd_gans": (
                        "from torch import nn\nfrom gancli.architectures.dcgan import DCGAN\n"
                        "class Pooled(DCGAN):\n    def build(self, shape, config, classes=0):\n"
                        "        g, d = super().build(shape, config, classes)\n"
                        "        return g, nn.Sequential(nn.Flatten(), nn.Linear(shape.channels * shape.height * shape.width, 4))\n"
                        "class Raising(DCGAN):\n    def build(self, shape, config, classes=0):\n"
                        "        raise TypeError('build() got an unexpected keyword argument')\n")})
    common = ["--steps", 1, "--batch-size", 8, "--split", "test", "--device", "cpu"] + \
        [f"--set=model.{k}={v}" for k, v in TINY_MODEL.items()]
    assert "arch odd-gans:pooled 1.0: its discriminator gave (2, 4) for 2 images, not one logit per image" \
        in one_line(invoke("train", "--arch", "pooled", "--out", tmp_path / "a", *common))
    assert "arch odd-gans:raising 1.0 failed to build its networks for 3x32x32 images: TypeError" \
        in one_line(invoke("train", "--arch", "raising", "--out", tmp_path / "b", *common))


BROKEN_LOGGER = """
from gancli.loggers import Logger

class Flaky(Logger):
    description = "fails on its second reading"
    def open(self, run_dir, config, first_step):
        self.calls = 0
    def scalars(self, step, values):
        self.calls += 1
        if self.calls == 2:
            raise ConnectionError("dashboard unreachable")
"""


def test_a_logger_plugin_that_raises_is_let_go_and_the_run_finishes(install_package, tmp_path):
    install_package("flaky-log", {"gancli.loggers": {"flaky": "flaky_log:Flaky"}}, modules={"flaky_log": BROKEN_LOGGER})
    said = []

    class Listener(Reporter):
        def notify(self, text):
            said.append(text)

    result = train(tiny_config(tmp_path / "run", steps=6, loggers=["flaky"]), reporter=Listener())
    assert result.steps == 6 and result.last_checkpoint.exists()
    assert json.loads((tmp_path / "run" / "status.json").read_text())["state"] == "finished"
    assert [line for line in said if line.startswith("logger flaky-log:flaky 1.0 failed to log scalars "
                                                       "(ConnectionError: dashboard unreachable); the run goes on")]
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) >= 3  # the built-in log went on


def test_the_logger_kit_finds_a_broken_logger(install_package, tmp_path):
    install_package("flaky-log", {"gancli.loggers": {"flaky": "flaky_log:Flaky"}}, modules={"flaky_log": BROKEN_LOGGER})
    check_logger("gancli:tensorboard", tmp_path / "tb")
    with pytest.raises(ConformanceError, match="scalars raised ConnectionError"):
        check_logger("flaky-log:flaky", tmp_path / "flaky")


def test_negative_labels_fail_the_dataset_kit_and_a_conditional_run_in_one_line(install_package, tmp_path):
    install_rings(install_package, "shifted-rings", label_shift=-1)
    with pytest.raises(ConformanceError, match=r"labels must lie in 0\.\.1 for the 2 classes; got -1\.\.0"):
        check_dataset("shifted-rings:rings")
    message = one_line(invoke("train", "--data", "shifted-rings:rings", "--conditional", "--steps", 1, "--device", "cpu",
                              "--out", tmp_path / "run"))
    assert "gives label -1, outside 0..1" in message


MOVED = [("gancli.shapes", "gancli.core.shapes", "ImageShape"),
         ("gancli.train", "gancli.training.run.trainer", "train"),
         ("gancli.training.trainer", "gancli.training.run.trainer", "Trainer"),
         ("gancli.training.build", "gancli.training.step.assembly", "build_training")]


def test_moved_modules_keep_working_with_a_warning_naming_the_new_place():
    # A fresh interpreter: an import already made in this process would not warn again.
    code = "import warnings; warnings.simplefilter('error')\n" + "".join(
        f"try:\n    from {old} import {name}\nexcept DeprecationWarning as w:\n    print(w)\n" for old, _, name in MOVED)
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    for old, new, name in MOVED:
        assert f"{old} moved to {new}; the old name goes in gancli 0.3" in shown.stdout, shown.stderr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            module = __import__(old, fromlist=[name])
        assert getattr(module, name) is getattr(__import__(new, fromlist=[name]), name)


def test_the_stable_surface_holds_what_a_plugin_needs():
    import gancli.plugin as surface

    for name in surface.__all__:
        assert getattr(surface, name) is not None, name
    assert {"Architecture", "GANLoss", "DatasetSource", "Logger", "check_logger", "TrainConfig"} <= set(surface.__all__)


def test_resume_sample_and_export_without_the_plugin_name_the_package_and_version_that_made_the_run(
        install_package, tmp_path):
    install_package("gone-gans", {"gancli.architectures": {"gone": "gancli.architectures.dcgan:DCGAN"}}, version="1.7")
    out = tmp_path / "run"
    train(tiny_config(out, arch="gone", steps=1, sample_every=0), reporter=Reporter())
    checkpoint = out / "checkpoints" / "last.safetensors"
    uninstall("gone-gans")
    for command in (["train", "--resume", out, "--steps", 2],
                    ["sample", checkpoint, "-o", tmp_path / "g.png"],
                    ["eval", checkpoint, "--metrics", "classifier", "--num", 16],
                    ["export", checkpoint, "-o", tmp_path / "g.onnx"]):
        message = one_line(invoke(*command))
        assert "from package gone-gans 1.7, which is not installed: pip install gone-gans==1.7" in message, command


def uninstall(package: str) -> None:
    """Remove `package`'s metadata from the test's site folder, as `pip uninstall` would."""
    import importlib
    import shutil
    from pathlib import Path

    from gancli.architectures import architectures

    for entry in map(Path, sys.path):
        if entry.is_dir():
            for dist_info in entry.glob(f"{package.replace('-', '_')}-*.dist-info"):
                shutil.rmtree(dist_info)
    importlib.invalidate_caches()
    architectures.refresh()
