"""Plugins as a user meets them: installed packages found by entry point, the broken and the
ambiguous ones reported clearly, `--no-plugins`, and checkpoints whose package is missing."""

import json

import pytest
import torch
from conftest import TINY_MODEL, tiny_config
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from gancli.architectures import architectures
from gancli.checkpoints.format import read_info
from gancli.checkpoints.generator import load_generator
from gancli.cli import app
from gancli.errors import CheckpointError
from gancli.testing import ConformanceError, check_architecture
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train

runner = CliRunner()
BUILTINS = [name for name in architectures.names() if any(p.builtin for p in architectures.plugins() if p.name == name)]
TINY = {"dcgan": TINY_MODEL}


def invoke(*args, **kwargs):
    return runner.invoke(app, [str(a) for a in args], **kwargs)


def listed(*flags, env=None):
    result = invoke(*flags, "list", "--json", env=env)
    assert result.exit_code == 0, result.output
    return {kind: {row["name"]: row for row in rows} for kind, rows in json.loads(result.output).items()}


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_architecture_keeps_the_contract(name, tmp_path):
    check_architecture(f"gancli:{name}", hparams=TINY.get(name), workdir=tmp_path)


def test_dcgan_with_a_batch_norm_per_class_keeps_the_contract(tmp_path):
    check_architecture("gancli:dcgan", hparams={**TINY_MODEL, "g_label": "norm"}, workdir=tmp_path)


SHRINKING = """
from gancli.architectures.dcgan import DCGAN, Generator
from torch import nn

class Shrinking(DCGAN):
    def build(self, shape, config):
        generator, discriminator = super().build(shape, config)
        return nn.Sequential(generator, nn.AvgPool2d(2)), discriminator

shrinking = Shrinking()
"""


def test_the_conformance_kit_catches_a_generator_of_the_wrong_size(install_package):
    install_package("odd-gans", {"gancli.architectures": {"shrinking": "odd_gans:shrinking"}},
                    modules={"odd_gans": SHRINKING})
    with pytest.raises(ConformanceError, match=r"at 1x16x16 the generator made images of shape \(1, 8, 8\)"):
        check_architecture("shrinking", hparams=TINY_MODEL)


def test_list_shows_each_architecture_with_package_loss_d_steps_and_sizes():
    dcgan = listed()["architectures"]["dcgan"]
    assert (dcgan["package"], dcgan["status"], dcgan["default_loss"], dcgan["d_steps"]) == ("gancli", "ok", "bce", 1)
    assert dcgan["image_sizes"] == [16, 28, 32, 64] and dcgan["conditional"] is True
    details = " ".join(invoke("list", "dcgan").output.split())
    assert "default loss bce; 1 D step(s) per G step; image sizes 16, 28, 32, 64;" in details
    assert "conditional with --conditional" in details
    assert {"bce", "hinge", "wgan-gp"} <= set(listed()["losses"])


def test_list_is_one_short_line_an_entry_and_imports_no_plugin():
    import subprocess
    import sys

    code = ("import sys\nfrom gancli.cli import main\nsys.argv = ['gancli', 'list']\ntry:\n    main()\n"
            "finally:\n    print('torch imported:', 'torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**__import__("os").environ, "COLUMNS": "80"})
    lines = result.stdout.splitlines()
    assert lines[-1] == "torch imported: False"
    assert "  dcgan                  gancli 0.1.0" in lines and "  bce                    gancli 0.1.0" in lines
    assert max(map(len, lines)) <= 100 and all(len(line) <= 80 for line in lines if line.startswith("  "))


def test_a_broken_plugin_is_listed_with_its_package_and_error_and_spares_the_rest(install_package, tmp_path):
    install_package("broken-gans", {"gancli.architectures": {"broken": "broken_gans:arch"}},
                    modules={"broken_gans": "import no_such_dependency_of_broken_gans\n"}, version="2.0")
    rows = listed()["architectures"]
    assert rows["broken"]["status"] == "broken" and rows["broken"]["package"] == "broken-gans"
    assert "no_such_dependency_of_broken_gans" in rows["broken"]["error"]
    assert rows["dcgan"]["status"] == "ok"
    assert "BROKEN" not in invoke("list").output  # plain listing loads nothing
    checked = invoke("list", "--check").output
    assert "  broken                 broken-gans 2.0  BROKEN: " in checked and "1 broken (shown above)" in checked
    assert "no_such_dependency_of_broken_gans" in invoke("list", "broken").output

    result = invoke("train", "--arch", "broken", "--device", "cpu", "--out", tmp_path / "run")
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "'broken' from package broken-gans 2.0 failed to load: ModuleNotFoundError" in result.output
    assert result.output.strip().count("\n") == 0 and not (tmp_path / "run").exists()


def test_two_packages_with_one_name_are_told_apart_by_package(install_package, tmp_path):
    install_package("other-gans", {"gancli.architectures": {"dcgan": "gancli.architectures.dcgan:DCGAN"}})
    install_package("third-gans", {"gancli.architectures": {"wide": "gancli.architectures.dcgan:DCGAN"}})
    install_package("fourth-gans", {"gancli.architectures": {"wide": "gancli.architectures.dcgan:DCGAN"}})
    result = invoke("train", "--arch", "wide", "--device", "cpu", "--out", tmp_path / "x")
    assert result.exit_code != 0
    assert "registered by both fourth-gans and third-gans; pick one with fourth-gans:wide, third-gans:wide" \
        in result.output

    run = train(tiny_config(tmp_path / "run", arch="other-gans:dcgan", steps=1), reporter=Reporter())
    model = load_generator(run.last_checkpoint)  # found under its package despite the clash
    assert (model.info.arch, model.info.arch_package, model.info.arch_version) == ("dcgan", "other-gans", "1.0")
    grid = tmp_path / "grid.png"
    assert invoke("sample", run.last_checkpoint, "-n", 4, "-o", grid).exit_code == 0 and grid.exists()


def test_no_plugins_and_the_environment_variable_load_builtins_only(install_package, tmp_path):
    install_package("extra-gans", {"gancli.architectures": {"extra": "gancli.architectures.dcgan:DCGAN"},
                                   "gancli.losses": {"extra-bce": "gancli.losses:NonSaturatingBCE"}})
    assert "extra" in listed()["architectures"] and "extra-bce" in listed()["losses"]
    for flags, env in ((["--no-plugins"], None), ([], {"GANCLI_DISABLE_PLUGINS": "1"})):
        rows = listed(*flags, env=env)
        assert "extra" not in rows["architectures"] and "extra-bce" not in rows["losses"]
        assert "dcgan" in rows["architectures"]
        result = invoke(*flags, "train", "--arch", "extra", "--device", "cpu", "--out", tmp_path / "x", env=env)
        assert result.exit_code != 0 and "unknown architecture 'extra'; available: dcgan" in result.output
    assert "extra" in listed()["architectures"]  # the flag held for one command only


PENALISED = """
from gancli.architectures.dcgan import DCGAN

class Penalised(DCGAN):
    def penalties(self, config):
        return [lambda discriminator, real, fake: real.new_tensor(5.0)]

penalised = Penalised()
"""


def test_an_architectures_penalty_is_added_to_the_discriminators_loss(install_package, tmp_path):
    install_package("penalised-gans", {"gancli.architectures": {"penalised": "penalised_gans:penalised"}},
                    modules={"penalised_gans": PENALISED})
    plain = train(tiny_config(tmp_path / "plain", steps=1, log_every=1), reporter=Reporter())
    penalised = train(tiny_config(tmp_path / "pen", arch="penalised", steps=1, log_every=1), reporter=Reporter())
    # Same seed, same networks: a constant penalty shifts D's loss and leaves the gradients alone.
    assert penalised.metrics["loss_d"] == pytest.approx(plain.metrics["loss_d"] + 5.0, abs=1e-4)
    assert penalised.metrics["loss_g"] == pytest.approx(plain.metrics["loss_g"], abs=1e-4)


def relabelled(source, target, **changes):
    tensors = load_file(str(source))
    from safetensors import safe_open

    with safe_open(str(source), framework="pt") as f:
        metadata = dict(f.metadata())
    metadata.update({f"gancli.{key}": value for key, value in changes.items()})
    save_file(tensors, str(target), metadata=metadata)
    return target


def test_sampling_a_checkpoint_whose_package_is_missing_says_what_to_install(tiny_run, tmp_path):
    ghost = relabelled(tiny_run.last_checkpoint, tmp_path / "ghost.safetensors",
                       arch="ghostgan", arch_package="ghost-gans", arch_version="1.2")
    with pytest.raises(CheckpointError, match="architecture 'ghostgan' from package ghost-gans 1.2, "
                                              "which is not installed: pip install ghost-gans"):
        load_generator(ghost)
    result = invoke("sample", ghost, "-o", tmp_path / "grid.png")
    assert result.exit_code != 0 and "pip install ghost-gans" in result.output
    assert result.output.strip().count("\n") == 0 and not (tmp_path / "grid.png").exists()

    result = invoke("--no-plugins", "sample", ghost, "-o", tmp_path / "grid.png")
    assert result.exit_code != 0 and "plugins are disabled (--no-plugins" in result.output


def test_a_checkpoint_is_not_rebuilt_by_another_package_of_the_same_name(install_package, tiny_run, tmp_path):
    install_package("other-gans", {"gancli.architectures": {"ghostgan": "gancli.architectures.dcgan:DCGAN"}})
    ghost = relabelled(tiny_run.last_checkpoint, tmp_path / "ghost.safetensors",
                       arch="ghostgan", arch_package="ghost-gans", arch_version="1.2")
    with pytest.raises(CheckpointError, match="pip install ghost-gans"):
        load_generator(ghost)
    # The package name is compared as pip compares it.
    same = relabelled(tiny_run.last_checkpoint, tmp_path / "same.safetensors", arch="ghostgan", arch_package="Other_GANs")
    assert torch.is_tensor(next(load_generator(same).generator.parameters()))


# -- names that never lead to a dead end -------------------------------------------------------------

LOSSY = """
from gancli.architectures.dcgan import DCGAN
from gancli.losses import NonSaturatingBCE

class Lossy(DCGAN):
    default_loss = "soft"

class Soft(NonSaturatingBCE):
    description = "{package}'s soft loss"

lossy = Lossy()
"""


def install_colliding(install_package, package, module):
    """A package registering the architecture `lossy` and the loss `soft`, as another may too."""
    install_package(package, {"gancli.architectures": {"lossy": f"{module}:lossy", "dcgan": f"{module}:lossy"},
                              "gancli.losses": {"soft": f"{module}:Soft"}},
                    modules={module: LOSSY.format(package=package)})


def test_a_plugin_never_takes_a_builtin_name_and_list_shows_who_has_it(install_package, tmp_path):
    install_package("bad-dcgan", {"gancli.architectures": {"dcgan": "bad_dcgan_module:nothing"}},
                    modules={"bad_dcgan_module": "raise ImportError('broken on purpose')\n"})
    run = train(tiny_config(tmp_path / "run", steps=1, sample_every=0), reporter=Reporter())  # plain dcgan
    assert read_info_package(run.last_checkpoint) == "gancli"
    lines = invoke("list").output.splitlines()
    assert "  dcgan                  gancli 0.1.0" in lines
    assert any(line.startswith("  bad-dcgan:dcgan") and "(dcgan alone is gancli:dcgan)" in line for line in lines)
    assert "failed to load" in invoke("train", "--arch", "bad-dcgan:dcgan", "--device", "cpu").output


def read_info_package(path):
    return read_info(path).arch_package


def test_a_run_resumes_when_another_package_registers_its_names(install_package, tmp_path):
    install_colliding(install_package, "first-gans", "first_gans")
    out = tmp_path / "run"
    config = tiny_config(out, arch="lossy", steps=2, sample_every=0)
    train(config, reporter=Reporter())
    install_colliding(install_package, "second-gans", "second_gans")  # now `lossy` and `soft` are ambiguous

    for arch in ("lossy", "first-gans:lossy"):  # the run's own entry, by either name
        result = invoke("train", "--resume", out, "--arch", arch, "--steps", 3 if arch == "lossy" else 4)
        assert result.exit_code == 0, result.output
    info = read_info(out / "checkpoints" / "last.safetensors")
    assert (info.step, info.arch, info.arch_package, info.loss) == (4, "lossy", "first-gans", "soft")
    for command in (["sample", out / "checkpoints" / "last.safetensors", "-o", tmp_path / "g.png"],
                    ["inspect", out / "checkpoints" / "last.safetensors"]):
        assert invoke(*command).exit_code == 0
    refused = invoke("train", "--resume", out, "--arch", "second-gans:lossy", "--steps", 5)
    assert refused.exit_code != 0 and "now 'second-gans:lossy'; start a new run" in refused.output


def test_an_architectures_default_loss_comes_from_its_own_package(install_package, tmp_path):
    install_colliding(install_package, "first-gans", "first_gans")
    install_colliding(install_package, "second-gans", "second_gans")
    messages = []

    class Recorder(Reporter):
        def notify(self, text):
            messages.append(text)

    from gancli.training.run.trainer import Trainer

    trainer = Trainer(tiny_config(tmp_path / "run", arch="second-gans:lossy", steps=1), Recorder())
    assert trainer.run.step.model.loss.description == "second-gans's soft loss"
    trainer.close()


BARE_TUPLE = """
from dataclasses import dataclass
from gancli.architectures.dcgan import DCGAN, DCGANConfig

@dataclass
class TupleConfig(DCGANConfig):
    widths: tuple = (8, 4)
    names: list = None
    pair: tuple[int, str] = (1, "a")

class Tupled(DCGAN):
    config_class = TupleConfig

tupled = Tupled()
"""


def test_bare_tuple_and_list_hyperparameters_are_read(install_package):
    install_package("tuple-gans", {"gancli.architectures": {"tupled": "tuple_gans:tupled"}},
                    modules={"tuple_gans": BARE_TUPLE})
    arch = architectures.get("tupled")
    config = arch.make_config({"widths": [16, 8, 4], "names": ["a", "b"], "pair": [2, "b"]})
    assert (config.widths, config.names, config.pair) == ((16, 8, 4), ["a", "b"], (2, "b"))
    assert arch.make_config(json.loads(json.dumps(arch.config_dict(config)))) == config
    result = invoke("train", "--arch", "tupled", "--set", "model.pair=[1]", "--device", "cpu")
    assert result.exit_code != 0 and "model.pair: expected 2 values, got 1" in result.output


def test_root_flags_work_after_the_command_too(install_package, tmp_path):
    install_package("extra-gans", {"gancli.architectures": {"extra": "gancli.architectures.dcgan:DCGAN"}})
    assert "extra" in invoke("list").output
    assert "extra" not in invoke("list", "--no-plugins").output
    missing = tmp_path / "missing.safetensors"
    assert isinstance(invoke("inspect", missing, "--debug").exception, CheckpointError)  # raised, not one line
    assert invoke("inspect", missing).output == f"Error: checkpoint not found: {missing}\n"
