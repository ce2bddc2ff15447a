"""Training a GAN from a `TrainConfig`: data, networks, the loop, and what it writes.

    from gancli.config import TrainConfig
    from gancli.train import train
    result = train(TrainConfig(arch="dcgan", data="synthetic", steps=200, device="cpu"))
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gancli import __version__
from gancli.architectures import architectures
from gancli.batches import make_batches
from gancli.checkpoint import CheckpointInfo, save_checkpoint
from gancli.config import TrainConfig
from gancli.data import load_images
from gancli.device import resolve_device
from gancli.errors import ConfigError, GancliError
from gancli.images import save_grid, to_uint8
from gancli.losses import make_loss
from gancli.progress import Reporter, default_reporter
from gancli.run_folder import RunFolder, default_run_dir
from gancli.step import STAT_NAMES, GANStep

GRID_SIZE = 64  # images in each progress grid: an 8 x 8 tile


@dataclass
class RunResult:
    out: Path
    last_checkpoint: Path
    steps: int
    metrics: dict[str, Any]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Everything one run needs, built from its config; `run()` trains it."""

    def __init__(self, config: TrainConfig, reporter: Reporter | None = None, overwrite: bool = False):
        self.config = config
        self.reporter = reporter or Reporter()
        self.device = resolve_device(config.device)
        seed_everything(config.seed)

        self.architecture = architectures.get(config.arch)
        self.arch_config = self.architecture.make_config(config.model)
        if config.lr is not None:
            self.arch_config = dataclasses.replace(self.arch_config, lr_g=config.lr, lr_d=config.lr)
        self.loss_name = config.loss or self.architecture.default_loss
        try:
            self.loss = make_loss(self.loss_name, config.smooth)
        except ValueError as err:
            raise ConfigError(f"loss: {err}") from None

        images = load_images(config, self.reporter.message)
        self.shape = images.shape
        try:
            self.generator, self.discriminator = self.architecture.build(self.shape, self.arch_config)
        except ValueError as err:
            raise ConfigError(f"arch {config.arch} cannot make {self.shape} images: {err}") from None
        self.generator.to(self.device).train()
        self.discriminator.to(self.device).train()
        try:
            self.batches = make_batches(images.pixels, config.batch_size, config.seed, self.device,
                                        config.data_budget_mb, config.data_workers, self.reporter.message)
        except ValueError as err:
            raise ConfigError(f"batch_size: {err}") from None

        betas = (self.arch_config.beta1, self.arch_config.beta2)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=self.arch_config.lr_g, betas=betas)
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=self.arch_config.lr_d, betas=betas)
        self.latent_rng = torch.Generator(device=self.device).manual_seed(config.seed + 1)
        self.step_fn = GANStep(self.generator, self.discriminator, self.loss, opt_g, opt_d,
                               self.sample_latent, self.architecture.d_steps)

        self.steps_per_epoch = max(1, self.batches.steps_per_epoch // self.architecture.d_steps)
        self.total_steps = config.steps or config.epochs * self.steps_per_epoch
        # One fixed latent batch, drawn on the CPU so every device shows the same grid.
        self.fixed_latent = self.architecture.sample_latent(
            GRID_SIZE, self.arch_config, generator=torch.Generator().manual_seed(config.seed)
        ).to(self.device)

        out = Path(config.out) if config.out else default_run_dir(config.arch, config.data)
        self.config = dataclasses.replace(config, out=str(out))
        self.run = RunFolder.create(out, self.config.to_yaml(), overwrite=overwrite)
        self.step = 0

    def sample_latent(self, n: int) -> torch.Tensor:
        return self.architecture.sample_latent(n, self.arch_config, generator=self.latent_rng, device=self.device)

    @property
    def epoch(self) -> int:
        return self.step // self.steps_per_epoch

    # -- what the run writes -------------------------------------------------------------

    def checkpoint_info(self) -> CheckpointInfo:
        plugin = architectures.find(self.config.arch)
        return CheckpointInfo(
            arch=plugin.name, hparams=self.architecture.config_dict(self.arch_config), image_shape=self.shape,
            latent_dim=self.arch_config.latent_dim, dataset=self.config.data, step=self.step, epoch=self.epoch,
            seed=self.config.seed, loss=self.loss_name, arch_package=plugin.package,
            arch_version=plugin.version, gancli_version=__version__, config=self.config.to_dict(),
        )

    def save(self, numbered: bool) -> Path:
        networks = {"generator": self.generator, "discriminator": self.discriminator}
        info = self.checkpoint_info()
        try:
            if numbered:
                save_checkpoint(self.run.checkpoint_path(self.step), networks, info)
            save_checkpoint(self.run.last_checkpoint, networks, info)
        except OSError as err:
            raise GancliError(f"cannot write a checkpoint in {self.run.checkpoints}: {err.strerror or err}") from None
        return self.run.last_checkpoint

    @torch.no_grad()
    def save_samples(self) -> None:
        # Eval mode uses batch norm's running statistics: the generator as `sample` will see it.
        self.generator.eval()
        images = to_uint8(self.generator(self.fixed_latent))
        self.generator.train()
        save_grid(images, self.run.sample_path(self.step), nrow=8)

    # -- the loop --------------------------------------------------------------------------

    def run_loop(self) -> RunResult:
        config = self.config
        totals = torch.zeros(len(STAT_NAMES), device=self.device)
        interval_steps, interval_start = 0, time.perf_counter()
        metrics: dict[str, Any] = {}
        self.reporter.start(self.total_steps, self.steps_per_epoch, self.step)
        try:
            while self.step < self.total_steps:
                real_batches = [self.batches.next() for _ in range(self.architecture.d_steps)]
                totals += self.step_fn(real_batches)
                self.step += 1
                interval_steps += 1
                self.reporter.advance(self.step, self.epoch)

                last = self.step == self.total_steps
                if self.step % config.log_every == 0 or last:
                    values = (totals / interval_steps).tolist()  # the one host sync per interval
                    elapsed = time.perf_counter() - interval_start
                    metrics = {"step": self.step, "epoch": self.epoch, **dict(zip(STAT_NAMES, values)),
                               "images_per_s": interval_steps * config.batch_size * self.architecture.d_steps / elapsed}
                    self.run.log_metrics(metrics)
                    self.reporter.metrics(metrics)
                    totals.zero_()
                    interval_steps, interval_start = 0, time.perf_counter()
                if config.sample_every and (self.step % config.sample_every == 0 or last):
                    self.save_samples()
                if config.checkpoint_every and self.step % config.checkpoint_every == 0 and not last:
                    self.save(numbered=True)
            last_checkpoint = self.save(numbered=True)
        finally:
            self.reporter.stop()
        return RunResult(self.run.root, last_checkpoint, self.step, metrics)


def train(config: TrainConfig, reporter: Reporter | None = None, overwrite: bool = False) -> RunResult:
    """Train as `config` says and return where the run went."""
    trainer = Trainer(config, reporter if reporter is not None else default_reporter(), overwrite=overwrite)
    return trainer.run_loop()
