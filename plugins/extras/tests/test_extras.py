"""gancli-extras as its users meet it: the kits pass, and the loss trains on the dataset."""

import torch
from gancli_extras.shapes import CLASSES, draw

from gancli.config import TrainConfig
from gancli.losses import losses
from gancli.sampling import sample_grid
from gancli.testing import check_dataset, check_loss
from gancli.training import train


def test_the_loss_and_the_dataset_keep_gancli_contract():
    check_loss("lsgan")
    check_dataset("shapes", splits=["test"])
    assert losses.find("lsgan").package == "gancli-extras"


def test_each_image_holds_its_labelled_shape():
    images = draw(300, seed=5)
    filled = (images.pixels.float().mean(1) > 70).flatten(1).float().sum(1)  # the shape's pixels
    assert set(images.labels.tolist()) == set(range(len(CLASSES)))
    assert bool((filled > 20).all())  # every image shows a shape
    mean_fill = [filled[images.labels == k].mean() for k in range(len(CLASSES))]
    assert mean_fill[0] > mean_fill[2] and mean_fill[1] > mean_fill[2]  # a triangle covers least
    assert torch.equal(draw(300, seed=5).pixels, images.pixels)


def test_dcgan_trains_on_shapes_with_the_least_squares_loss(tmp_path):
    config = TrainConfig(arch="dcgan", data="shapes", split="test", loss="lsgan", steps=3, batch_size=8,
                         device="cpu", out=str(tmp_path / "run"), sample_every=0, log_every=1,
                         model={"g_channels": 32, "d_channels": 8, "latent_dim": 8})
    result = train(config)
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(v)) for v in result.metrics.values())
    assert sample_grid(result.last_checkpoint, tmp_path / "grid.png", n=9).exists()
