"""gancli-extras as its users meet it: the kits pass, and the loss trains on the dataset."""

import torch
from gancli_extras.shapes import CLASSES, draw

from gancli.plugin import TrainConfig, check_dataset, check_loss, losses, sample_grid, train


def test_the_losses_and_the_dataset_keep_gancli_contract():
    # By package:name: another package's `shapes` or `lsgan`, installed beside, never answers.
    check_loss("gancli-extras:lsgan")
    check_loss("gancli-extras:ragan")
    check_dataset("gancli-extras:shapes", splits=["test"])
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


def test_dcgan_trains_with_the_relativistic_loss_which_rates_fakes_against_reals(tmp_path):
    config = TrainConfig(arch="dcgan", data="gancli-extras:shapes", split="test", loss="gancli-extras:ragan", steps=3,
                         batch_size=8, device="cpu", out=str(tmp_path / "run"), sample_every=0, log_every=1,
                         model={"g_channels": 32, "d_channels": 8, "latent_dim": 8})
    result = train(config)
    assert result.steps == 3 and all(torch.isfinite(torch.tensor(v)) for v in result.metrics.values())
    assert 0 < result.metrics["d_real"] < 1  # a probability: the sigmoid of the scores
