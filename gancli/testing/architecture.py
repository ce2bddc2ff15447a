"""A conformance kit for architecture authors: `check_architecture(name)` in a package's tests.

    from gancli.testing import check_architecture

    def test_my_architecture_conforms():
        check_architecture("mygan", hparams={"g_channels": 64})   # narrow networks: fast on a CPU

It finds the architecture through the registry, as `gancli train --arch` does, then checks the
contract: the typed config round-trips; the networks build at every size in `image_sizes`, in
grey and colour, and have the promised input and output shapes; the generator's output stays in
[-1, 1] even for far-out latents; two builds from one config have the same structure whatever
the random state; the real trainer runs a few steps
on the CPU with its default loss and D steps; the checkpoint records the package and version and
rebuilds a generator that makes the very same images; sampling from the file alone works. An
architecture that declares `conditional` is checked again with labels: both networks take them,
they change what the networks give, and a conditional run records its classes and samples each.
A broken promise raises `ConformanceError` saying which.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from gancli.architectures import ArchConfig, Architecture, architectures, build_networks
from gancli.core.shapes import ImageShape
from gancli.errors import CheckpointError
from gancli.losses import losses
from gancli.testing.conformance import ConformanceError
from gancli.testing.conformance import expect as _expect

BATCH = 3  # odd on purpose: a network that assumes an even or fixed batch shows it
CLASSES = 3  # labels 0, 1, 2: one per image of a batch
EXTREME_LATENT = 100.0


def check_config(arch: Architecture, hparams: Mapping[str, Any] | None) -> ArchConfig:
    """The typed config: an `ArchConfig`, built from defaults, and unchanged through JSON."""
    _expect(isinstance(arch.config_class, type) and issubclass(arch.config_class, ArchConfig),
            f"config_class must subclass ArchConfig, got {arch.config_class!r}")
    arch.make_config()  # the defaults alone must make a valid config
    config = arch.make_config(hparams)
    stored = json.loads(json.dumps(arch.config_dict(config)))  # as a checkpoint stores it
    _expect(arch.make_config(stored) == config, "config_dict -> make_config must give back the same config")
    _expect(isinstance(arch.d_steps, int) and arch.d_steps >= 1, f"d_steps must be an int >= 1, got {arch.d_steps!r}")
    _expect(arch.default_loss in losses.names(),
            f"default_loss '{arch.default_loss}' is not a registered loss; available: {', '.join(losses.names())}")
    _expect(len(arch.image_sizes) > 0, "image_sizes must name at least one size")
    return config


def check_build(arch: Architecture, shape: ImageShape, config: ArchConfig) -> None:
    """The networks for `shape`: modules, images in [-1, 1] of that shape, one logit per image."""
    arch.check_shape(shape)
    generator, discriminator = arch.build(shape, config)
    _expect(isinstance(generator, nn.Module) and isinstance(discriminator, nn.Module),
            "build must return two nn.Modules (generator, discriminator)")
    shared = {id(p) for p in generator.parameters()} & {id(p) for p in discriminator.parameters()}
    _expect(not shared, "the generator and the discriminator must not share parameters")
    latent = arch.sample_latent(BATCH, config, generator=torch.Generator().manual_seed(0))
    _expect(latent.shape[0] == BATCH, f"sample_latent({BATCH}) gave a batch of {latent.shape[0]}")
    with torch.no_grad():
        images = generator.eval()(latent)
        _expect(tuple(images.shape) == (BATCH, *shape.as_tuple()),
                f"at {shape} the generator made images of shape {tuple(images.shape)[1:]}")
        _expect(bool(images.min() >= -1) and bool(images.max() <= 1), f"at {shape} generated images leave [-1, 1]")
        # Far-out latents find a generator whose output is not bounded (a final tanh left out),
        # which small networks hide on ordinary ones.
        extreme = generator(latent * EXTREME_LATENT)
        _expect(bool(torch.isfinite(extreme).all()) and bool(extreme.abs().max() <= 1),
                f"at {shape} the generator's output is not bounded to [-1, 1]: latents scaled by {EXTREME_LATENT} "
                f"gave values up to {float(extreme.abs().max()):.3g} (end it with tanh)")
        logits = discriminator.eval()(images)
    _expect(tuple(logits.shape) in ((BATCH,), (BATCH, 1)),
            f"at {shape} the discriminator gave shape {tuple(logits.shape)}, not ({BATCH},) or ({BATCH}, 1)")


def check_conditional_build(arch: Architecture, shape: ImageShape, config: ArchConfig) -> None:
    """A conditional pair for `shape`: G(z, labels) and D(images, labels) have the unconditional
    shapes, and the labels change what both give."""
    try:
        generator, discriminator = arch.build(shape, config, classes=CLASSES)
    except TypeError as err:
        raise ConformanceError(f"the architecture declares `conditional` but build(shape, config, classes=...) "
                               f"fails: {err}") from None
    latent = arch.sample_latent(BATCH, config, generator=torch.Generator().manual_seed(0))
    labels, others = torch.arange(BATCH) % CLASSES, (torch.arange(BATCH) + 1) % CLASSES
    with torch.no_grad():
        images = generator.eval()(latent, labels)
        _expect(tuple(images.shape) == (BATCH, *shape.as_tuple()),
                f"at {shape} the conditional generator made images of shape {tuple(images.shape)[1:]}")
        _expect(bool(images.min() >= -1) and bool(images.max() <= 1),
                f"at {shape} conditionally generated images leave [-1, 1]")
        logits = discriminator.eval()(images, labels)
        _expect(tuple(logits.shape) in ((BATCH,), (BATCH, 1)),
                f"at {shape} the conditional discriminator gave shape {tuple(logits.shape)}")
        # Whether the labels matter is asked as training asks it, with batch statistics: in eval
        # mode an untrained network's running statistics (0 and 1) can leave every ReLU dead, and
        # an image or score that is constant for all inputs says nothing of the labels.
        generator.train(), discriminator.train()
        _expect(not torch.equal(generator(latent, labels), generator(latent, others)),
                f"at {shape} the conditional generator makes the same images whatever the labels")
        _expect(not torch.equal(discriminator(images, labels), discriminator(images, others)),
                f"at {shape} the conditional discriminator gives the same scores whatever the labels")


def check_deterministic_build(arch: Architecture, shape: ImageShape, config: ArchConfig) -> None:
    """The same shape and config build networks of the same structure whatever the random state:
    a checkpoint is rebuilt from its metadata alone."""
    layouts = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        layouts.append([{name: tuple(value.shape) for name, value in network.state_dict().items()}
                        for network in arch.build(shape, config)])
    _expect(layouts[0] == layouts[1], f"at {shape} two builds from one config made networks of different "
                                      f"structure: construction must not depend on random numbers")


def check_training(name: str, arch: Architecture, shape: ImageShape, hparams: Mapping[str, Any] | None,
                   workdir: Path, steps: int, conditional: bool = False) -> None:
    """The real trainer on the CPU, then the checkpoint read back and sampled from; with
    `conditional`, a class-conditional run on the labelled `synthetic` digits."""
    from gancli.checkpoints.format import load_into, load_tensors, read_info
    from gancli.checkpoints.generator import load_generator
    from gancli.config import TrainConfig
    from gancli.sampling import generate
    from gancli.training.reporting import Reporter
    from gancli.training.run.trainer import Trainer

    config = TrainConfig(arch=name, data="synthetic", split="test", image_size=shape.height,
                         channels=shape.channels, steps=steps, batch_size=4, device="cpu",
                         out=str(workdir / ("conditional" if conditional else "run")), log_every=1,
                         sample_every=steps, checkpoint_every=0, model=dict(hparams or {}), conditional=conditional)
    trainer = Trainer(config, Reporter(), overwrite=True)
    step = trainer.run.step
    before = [p.detach().clone() for p in step.training.discriminator.parameters()]
    try:
        result = trainer.run_loop()
    finally:
        trainer.close()
    _expect(all(v == v for k, v in result.metrics.items() if isinstance(v, float)),
            f"training made a NaN: {result.metrics}")
    changed = any(not torch.equal(a, b) for a, b in zip(before, step.training.discriminator.parameters()))
    _expect(changed, "a training step left the discriminator unchanged")

    plugin = architectures.find(name)
    info = read_info(result.last_checkpoint)
    _expect((info.arch, info.arch_package, info.arch_version) == (plugin.name, plugin.package, plugin.version),
            f"the checkpoint records {info.arch} from {info.arch_package} {info.arch_version}, "
            f"not {plugin.name} from {plugin.package} {plugin.version}")
    _expect(info.image_shape == shape and info.loss == arch.default_loss,
            f"the checkpoint records shape {info.image_shape} and loss {info.loss}")
    _expect(len(info.classes) == (10 if conditional else 0),
            f"a{' conditional' if conditional else 'n unconditional'} run on digits recorded classes {info.classes}")

    latent = arch.sample_latent(BATCH, step.model.arch_config, generator=torch.Generator().manual_seed(1))
    labels = (torch.arange(BATCH) % 10,) if conditional else ()
    ema = step.ema
    try:
        pairs = [(step.training.generator, load_generator(result.last_checkpoint, ema=False))]
        if ema is not None:  # sampling uses the averaged generator where the run kept one
            pairs.append((ema.module, load_generator(result.last_checkpoint)))
    except CheckpointError as err:
        raise ConformanceError(f"the generator cannot be rebuilt from its checkpoint: {err}") from None
    for trained, loaded in pairs:
        with torch.no_grad():
            # Not bit for bit: training may run channels-last, whose convolutions sum in another order.
            same = torch.allclose(trained.eval()(latent, *labels), loaded.generator(latent, *labels), rtol=0, atol=1e-5)
        _expect(same, "the generator rebuilt from the checkpoint makes different images")
    _, fresh_discriminator = build_networks(arch, info.image_shape, loaded.config, len(info.classes))
    load_into(fresh_discriminator, load_tensors(result.last_checkpoint, "discriminator"), "discriminator",
              result.last_checkpoint)

    images = generate(loaded, BATCH + 2, seed=0)
    _expect(images.dtype == torch.uint8 and tuple(images.shape) == (BATCH + 2, *shape.as_tuple()),
            f"sampling gave {images.dtype} {tuple(images.shape)}")
    _expect(torch.equal(images, generate(loaded, BATCH + 2, seed=0)), "one seed must give the same samples")


def check_architecture(name: str, *, hparams: Mapping[str, Any] | None = None,
                       shapes: Iterable[ImageShape] | None = None, train_steps: int = 2,
                       workdir: Path | None = None) -> None:
    """Check that architecture `name` (or `package:name`) keeps gancli's contract.

    `hparams` override the defaults (narrow networks keep the check fast); `shapes` replace
    the ones built from `image_sizes` (each in 1 and 3 channels). Training runs at the first
    shape, for `train_steps` generator steps, in `workdir` (a temporary folder by default).
    """
    arch = architectures.get(name)
    config = check_config(arch, hparams)
    shapes = list(shapes) if shapes is not None else [
        ImageShape(channels, side, side) for side in arch.image_sizes for channels in (1, 3)]
    _expect(len(shapes) > 0, "no image shapes to check")
    for shape in shapes:
        check_build(arch, shape, config)
        if arch.conditional:
            check_conditional_build(arch, shape, config)
    check_deterministic_build(arch, shapes[0], config)
    with tempfile.TemporaryDirectory(prefix="gancli-check-") as tmp:
        folder = Path(workdir) if workdir is not None else Path(tmp)
        check_training(name, arch, shapes[0], hparams, folder, train_steps)
        if arch.conditional:
            check_training(name, arch, shapes[0], hparams, folder, train_steps, conditional=True)
