"""Batch sampling: every image once per epoch, on the device or streamed from the host."""

from __future__ import annotations

import pytest
import torch

from gancli.training.batches import DeviceBatches, StreamedBatches, make_batches


def numbered_images(count):
    """Image i has every pixel equal to i, so a batch says which images it holds."""
    return torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 1, 2, 2).contiguous()


def image_numbers(batch):
    return ((batch[:, 0, 0, 0] + 1) * 127.5).round().long().tolist()


def epoch_of(batches):
    return [n for _ in range(batches.steps_per_epoch) for n in image_numbers(batches.next())]


@pytest.mark.parametrize("make", [
    lambda pixels: DeviceBatches(pixels, 10, seed=3),
    lambda pixels: StreamedBatches(pixels, 10, seed=3, device=torch.device("cpu"), workers=0),
    lambda pixels: StreamedBatches(pixels, 10, seed=3, device=torch.device("cpu"), workers=1),
], ids=["device", "streamed", "streamed-worker"])
def test_each_epoch_visits_every_image_once(make):
    batches = make(numbered_images(50))
    first, second = epoch_of(batches), epoch_of(batches)
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert first != second  # a fresh order each epoch
    assert batches.epoch == 1


def test_an_incomplete_last_batch_is_dropped_without_repeats():
    batches = DeviceBatches(numbered_images(53), 10, seed=0)
    seen = epoch_of(batches)
    assert batches.steps_per_epoch == 5 and len(set(seen)) == 50


def test_the_memory_budget_picks_resident_or_streamed():
    pixels = numbered_images(40)  # 160 bytes
    assert isinstance(make_batches(pixels, 8, 0, torch.device("cpu"), budget_mb=1, workers=0), DeviceBatches)
    told = []
    streamed = make_batches(pixels, 8, 0, torch.device("cpu"), budget_mb=0, workers=0, notify=told.append)
    assert isinstance(streamed, StreamedBatches) and "data_budget_mb" in told[0]
    assert sorted(epoch_of(streamed)) == list(range(40))
