"""The arithmetic of one GAN training step: update the discriminator, then the generator.

The step returns its statistics as a tensor on the device and never reads values back to the
host; the trainer reads the accumulated statistics only every `log_every` steps.

Under data parallelism `generator` and `discriminator` are the DistributedDataParallel wrappers
and `own_discriminator` the network inside: the generator's update and the penalties run D
unwrapped, so a pass that computes no D gradients (or discards them) leaves no wrapper waiting
for an all-reduce. The penalties run `penalized_discriminator`, which is D itself where
torch.compile compiles the other passes: a gradient penalty differentiates D twice, and a
compiled graph can be differentiated only once.

With `augment` (DiffAugment) every image the discriminator sees, real or fake, passes through
the same random, differentiable augmentation first, in both phases and in the penalties.

In a conditional run each real batch carries its labels; the fakes of a D update are made for
the same labels, so D sees real and fake images of the same classes in the same numbers, and
the generator learns every class as often as the data shows it, with no draw on the host.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from gancli.losses import GANLoss, Penalty, takes_scale
from gancli.training.step.batches import RealBatch

#: Order of the values in the statistics tensor a step returns.
STAT_NAMES = ("loss_d", "loss_g", "d_real", "d_fake")


class GANStep:
    def __init__(self, generator: nn.Module, discriminator: nn.Module, loss: GANLoss,
                 opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                 sample_latent, penalties: Sequence[Penalty] = (),
                 scaler: torch.amp.GradScaler | None = None, own_discriminator: nn.Module | None = None,
                 penalized_discriminator: nn.Module | None = None,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None):
        self.generator = generator
        self.discriminator = discriminator
        self.loss = loss
        self.opt_g = opt_g
        self.opt_d = opt_d
        self.sample_latent = sample_latent  # n -> latent batch on the training device
        self.penalties = tuple(penalties)   # the loss's and the architecture's, e.g. a gradient penalty
        self.scaler = scaler  # fp16 only: scales losses so small gradients survive
        # fp16: a penalty that can compute D's input gradients on scaled scores is given the scale.
        self.scaled_penalties = tuple(scaler is not None and takes_scale(p) for p in self.penalties)
        self.own_discriminator = own_discriminator or discriminator
        self.penalized_discriminator = penalized_discriminator or self.own_discriminator
        # The real half's gradients wait for the fake half's all-reduce (DistributedDataParallel only).
        self.sync_later = discriminator.no_sync if isinstance(discriminator, DistributedDataParallel) \
            else contextlib.nullcontext
        self.augment = augment or (lambda images: images)
        # Each backward fills its own network's gradients only: G's phase wastes no work on D's
        # weights, and D's (a gradient penalty's included) none on the images it was given.
        self.generator_params = [p for p in generator.parameters() if p.requires_grad]
        self.discriminator_params = [p for p in self.own_discriminator.parameters() if p.requires_grad]

    def __call__(self, real_batches: Sequence[RealBatch]) -> torch.Tensor:
        """One D update per real batch, then one G update; returns (loss_d, loss_g, d_real, d_fake), detached."""
        self.overflowed = torch.zeros((), dtype=torch.bool, device=real_batches[0].images.device)
        # (1) Update D, once per real batch: tell real images from fakes (plus any penalties).
        for index, (real, labels) in enumerate(real_batches):
            # Only the last fakes train G; earlier ones need no graph (nor a gradient all-reduce).
            with torch.set_grad_enabled(index == len(real_batches) - 1):
                fake = labelled(self.generator, labels)(self.sample_latent(real.shape[0]))
            self.opt_d.zero_grad(set_to_none=True)
            loss_d, real_logits, fake_logits = self._discriminator_backward(
                self.augment(real), self.augment(fake.detach()), labels)
            self._step(self.opt_d)

        # (2) Update G: make D score the last fakes as real (against the reals, for a relativistic loss).
        fake_logits_for_g = labelled(self.own_discriminator, labels)(self.augment(fake))
        if self.loss.relativistic:
            with torch.no_grad():
                real_logits_for_g = labelled(self.own_discriminator, labels)(self.augment(real))
            loss_g = self.loss.generator(fake_logits_for_g, real_logits_for_g)
        else:
            loss_g = self.loss.generator(fake_logits_for_g)
        self.opt_g.zero_grad(set_to_none=True)
        self._backward(loss_g, inputs=self.generator_params)
        self._step(self.opt_g)

        stats = torch.stack([
            loss_d,
            loss_g.detach(),
            self.loss.mean_output(real_logits.detach()),
            self.loss.mean_output(fake_logits.detach()),
        ]).float()
        if self.scaler is not None:
            # An overflow the grad scaler answered by skipping the update and lowering its scale is
            # not divergence: a penalty computed on scaled scores is then non-finite, and reads 0.
            stats = torch.where(self.overflowed & ~torch.isfinite(stats), 0.0, stats)
        return stats

    def _discriminator_backward(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None):
        """D's gradients for one update; returns (loss, real logits, fake logits), the loss detached."""
        D = labelled(self.discriminator, labels)
        if not self.loss.separable:
            real_logits, fake_logits = D(real), D(fake)
            loss = self._with_penalties(self.loss.discriminator(real_logits, fake_logits), real, fake, labels)
            self._backward(loss, inputs=self.discriminator_params)
            return loss.detach(), real_logits, fake_logits
        # The real half back-propagates before D sees the fakes, as in pytorch/examples, so D's
        # activations for the two batches are never held together. Under data parallelism its
        # gradients wait (no_sync) and are all-reduced with the fake half's, once.
        with self.sync_later():
            real_logits = D(real)
            loss_real = self.loss.discriminator_real(real_logits)
            self._backward(loss_real, inputs=self.discriminator_params)
        fake_logits = D(fake)
        loss_fake = self._with_penalties(self.loss.discriminator_fake(fake_logits), real, fake, labels)
        self._backward(loss_fake, inputs=self.discriminator_params)
        return loss_real.detach() + loss_fake.detach(), real_logits, fake_logits

    def _with_penalties(self, loss: torch.Tensor, real: torch.Tensor, fake: torch.Tensor,
                        labels: torch.Tensor | None) -> torch.Tensor:
        for penalty, scaled in zip(self.penalties, self.scaled_penalties):
            extra = {"scale": self.scaler.scale(torch.ones((), device=real.device))} if scaled else {}
            loss = loss + penalty(labelled(self.penalized_discriminator, labels), real, fake, **extra)
        return loss

    def _backward(self, loss: torch.Tensor, inputs=None) -> None:
        (loss if self.scaler is None else self.scaler.scale(loss)).backward(inputs=inputs)

    def _step(self, optimizer: torch.optim.Optimizer) -> None:
        if self.scaler is None:
            optimizer.step()
            return
        # The scale as a device tensor (no host read): it falls only when the step overflowed.
        one = torch.ones((), device=self.overflowed.device)
        before = self.scaler.scale(one)
        self.scaler.step(optimizer)
        self.scaler.update()  # after every optimiser step: D may step several times per G step
        after = self.scaler.scale(one)
        # Below a scale of 1 an overflow is the values' own, and the guard should see it.
        self.overflowed |= (after < before) & (after >= 1)


def labelled(network: nn.Module, labels: torch.Tensor | None):
    """`network` as a function of its images alone: bound to `labels` in a conditional run."""
    return network if labels is None else lambda images: network(images, labels)
