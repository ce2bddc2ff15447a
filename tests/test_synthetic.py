import torch

from gancli.datasets import DataRequest, datasets
from gancli.datasets.synthetic import make_digits


def test_synthetic_digits_are_deterministic_labelled_rgb():
    first, again = make_digits(50, seed=7), make_digits(50, seed=7)
    assert first.pixels.shape == (50, 3, 32, 32) and first.pixels.dtype == torch.uint8
    assert torch.equal(first.pixels, again.pixels) and torch.equal(first.labels, again.labels)
    assert set(first.labels.tolist()) <= set(range(10))
    assert not torch.equal(first.pixels, make_digits(50, seed=8).pixels)


def test_each_image_has_a_visible_digit():
    images = make_digits(64, seed=0).pixels.float()
    # A digit's strokes contrast with the background, so every image spans a wide range.
    spread = images.amax(dim=(1, 2, 3)) - images.amin(dim=(1, 2, 3))
    assert (spread > 80).all()


def test_the_registered_dataset_has_train_and_test_splits(tmp_path):
    synthetic = datasets.get("synthetic")
    test = synthetic.load(DataRequest(root=tmp_path, split="test"))
    assert len(test) == 2000 and test.shape.as_tuple() == (3, 32, 32)
