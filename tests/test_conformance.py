"""Each conformance kit catches the broken promise it is there for, as a ConformanceError."""

import re

import pytest

from gancli.testing import ConformanceError, check_architecture, check_dataset, check_loss

UNBOUNDED = """
from torch import nn
from gancli.architectures.dcgan import DCGAN

class Unbounded(DCGAN):
    conditional = False

    def build(self, shape, config):
        generator, discriminator = super().build(shape, config)
        for name, module in generator.named_modules():
            for child_name, child in module.named_children():
                if isinstance(child, nn.Tanh):
                    setattr(module, child_name, nn.Identity())
        return generator, discriminator

unbounded = Unbounded()
"""

RANDOM_WIDTH = """
import dataclasses, torch
from gancli.architectures.dcgan import DCGAN

class RandomWidth(DCGAN):
    conditional = False

    def build(self, shape, config):
        width = int(torch.randint(2, 6, ()).item()) * 8
        return super().build(shape, dataclasses.replace(config, d_channels=width))

random_width = RandomWidth()
"""


IGNORES_LABELS = """
import torch
from torch import nn
from gancli.architectures.dcgan import DCGAN

class Unlabelled(nn.Module):
    def __init__(self, network):
        super().__init__()
        self.network = network

    def forward(self, x, labels=None):
        return self.network(x)

class IgnoresLabels(DCGAN):
    def build(self, shape, config, classes=0):
        generator, discriminator = super().build(shape, config)
        if not classes:
            return generator, discriminator
        return Unlabelled(generator), Unlabelled(discriminator)

ignores_labels = IgnoresLabels()
"""

NO_CLASSES = """
from gancli.architectures.dcgan import DCGAN

class NoClasses(DCGAN):
    def build(self, shape, config):
        return super().build(shape, config)

no_classes = NoClasses()
"""


# Wide enough that a generator without its tanh makes values beyond [-1, 1] from its first draw.
KIT_MODEL = {"g_channels": 64, "d_channels": 16, "latent_dim": 16}


@pytest.mark.parametrize("module, name, message", [
    (UNBOUNDED, "unbounded", "the generator's output is not bounded to [-1, 1]"),
    (RANDOM_WIDTH, "random_width", "construction must not depend on random numbers"),
    (IGNORES_LABELS, "ignores_labels", "the conditional generator makes the same images whatever the labels"),
    (NO_CLASSES, "no_classes", "declares `conditional` but build(shape, config, classes=...) fails"),
])
def test_the_architecture_kit_catches_broken_promises(install_package, module, name, message):
    install_package("odd-arch", {"gancli.architectures": {name: f"odd_arch_{name}:{name}"}},
                    modules={f"odd_arch_{name}": module})
    with pytest.raises(ConformanceError, match=re.escape(message)):
        check_architecture(name, hparams=KIT_MODEL)


LOSSES = """
import torch
from gancli.losses import GANLoss, NonSaturatingBCE

class Backwards(NonSaturatingBCE):
    description = "labels swapped"
    def discriminator_real(self, real_logits):
        return super().discriminator_fake(real_logits)
    def discriminator_fake(self, fake_logits):
        return super().discriminator_real(fake_logits)

class Naive(GANLoss):
    description = "log of a sigmoid: overflows on a saturated discriminator"
    def discriminator(self, real_logits, fake_logits):
        return -(torch.log(torch.sigmoid(real_logits)) + torch.log(1 - torch.sigmoid(fake_logits))).mean()
    def generator(self, fake_logits):
        return -torch.log(torch.sigmoid(fake_logits)).mean()

class Halves(NonSaturatingBCE):
    description = "a whole that is not its halves"
    def discriminator(self, real_logits, fake_logits):
        return 2 * super().discriminator(real_logits, fake_logits)
"""


@pytest.mark.parametrize("name, message", [
    ("backwards", "must rate real images above fakes"),
    ("naive", "is not finite"),
    ("halves", "discriminator_real \\+ discriminator_fake"),
])
def test_the_loss_kit_catches_wrong_directions_overflow_and_halves_that_do_not_add_up(install_package, name,
                                                                                       message):
    install_package("odd-losses", {"gancli.losses": {"backwards": "odd_losses:Backwards", "naive": "odd_losses:Naive",
                                                     "halves": "odd_losses:Halves"}},
                    modules={"odd_losses": LOSSES})
    with pytest.raises(ConformanceError, match=message):
        check_loss(name)


DATASETS = """
import socket, torch
from gancli.datasets import DatasetSource, ImageShape, Images

class Base(DatasetSource):
    native_shape = ImageShape(1, 8, 8)
    splits = ("train",)
    def load(self, request):
        return Images(torch.zeros(4, 1, 8, 8, dtype=torch.uint8))

class Shuffled(Base):
    def load(self, request):
        return Images(torch.randint(0, 255, (4, 1, 8, 8), dtype=torch.uint8))

class Unlabelled(Base):
    labelled = True

class Scribbler(Base):
    def load(self, request):
        (request.root / "notes.txt").write_text("written outside the cache")
        return super().load(request)

class Caller(Base):
    def load(self, request):
        socket.create_connection(("example.com", 80), timeout=1)
        return super().load(request)

class WrongShape(Base):
    native_shape = ImageShape(3, 8, 8)

shuffled, unlabelled, scribbler, caller, wrong_shape, good = Shuffled(), Unlabelled(), Scribbler(), Caller(), WrongShape(), Base()
"""


@pytest.mark.parametrize("name, message", [
    ("shuffled", "gave different images on a second load"),
    ("unlabelled", "gives one integer label per image"),
    ("scribbler", "wrote or changed files under"),
    ("caller", "reached for the network with downloads off"),
    ("wrong_shape", "the dataset declares native_shape"),
])
def test_the_dataset_kit_catches_each_broken_promise(install_package, name, message):
    names = ("shuffled", "unlabelled", "scribbler", "caller", "wrong_shape", "good")
    install_package("odd-data", {"gancli.datasets": {n: f"odd_data:{n}" for n in names}},
                    modules={"odd_data": DATASETS})
    check_dataset("good")
    with pytest.raises(ConformanceError, match=message):
        check_dataset(name)


def test_every_builtin_loss_and_the_embedded_dataset_keep_the_contract():
    for name in ("bce", "hinge", "wgan-gp"):
        check_loss(f"gancli:{name}")
    check_dataset("gancli:synthetic", splits=["test"])


def test_a_file_dataset_keeps_the_contract_on_its_files(tmp_path):
    from dataset_files import write_mnist

    write_mnist(tmp_path, split="test", count=5)
    check_dataset("mnist", root=tmp_path, splits=["test"])
