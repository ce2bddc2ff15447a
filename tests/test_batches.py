"""Batch sampling: every image once per epoch, on the device or streamed from the host."""

from __future__ import annotations

import pytest
import torch

from gancli.config import TrainConfig
from gancli.training.step.batches import DeviceBatches, StreamedBatches, make_batches
from gancli.training.step.distributed import World


def numbered_images(count):
    """Image i has every pixel equal to i, so a batch says which images it holds."""
    return torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 1, 2, 2).contiguous()


def image_numbers(batch):
    return ((batch[:, 0, 0, 0] + 1) * 127.5).round().long().tolist()


def epoch_of(batches):
    return [n for _ in range(batches.steps_per_epoch) for n in image_numbers(batches.next().images)]


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
    world = World(device=torch.device("cpu"))
    resident = TrainConfig(batch_size=8, data_budget_mb=1, data_workers=0)
    assert isinstance(make_batches(pixels, None, resident, world), DeviceBatches)
    told = []
    over_budget = TrainConfig(batch_size=8, data_budget_mb=0, data_workers=0)
    streamed = make_batches(pixels, None, over_budget, world, notify=told.append)
    assert isinstance(streamed, StreamedBatches) and "data_budget_mb" in told[0]
    assert sorted(epoch_of(streamed)) == list(range(40))


PAIRED = [
    lambda pixels, labels, rank, ranks: DeviceBatches(pixels, 10, seed=3, rank=rank, ranks=ranks, labels=labels),
    lambda pixels, labels, rank, ranks: StreamedBatches(pixels, 10, seed=3, device=torch.device("cpu"), workers=1,
                                                        rank=rank, ranks=ranks, labels=labels),
]


@pytest.mark.parametrize("make", PAIRED, ids=["device", "streamed"])
def test_labels_stay_paired_with_their_images_on_every_rank(make):
    # Image i has label (i * 7) % 10: a batch whose labels are gathered apart from its images shows it.
    pixels = numbered_images(50)
    labels = (torch.arange(50) * 7 % 10).to(torch.uint8)
    seen = []
    for rank in range(2):  # two data-parallel ranks share each global batch of 10
        batches = make(pixels, labels, rank, 2)
        for _ in range(7):  # across an epoch's end
            batch = batches.next()
            numbers = image_numbers(batch.images)
            assert batch.labels.dtype == torch.int64 and batch.labels.shape == (5,)
            assert batch.labels.tolist() == [n * 7 % 10 for n in numbers]
            seen.append(numbers)
    # The ranks' shares of a global batch are disjoint halves of it.
    for step in range(7):
        assert not set(seen[step]) & set(seen[7 + step])


def test_an_unconditional_batch_has_no_labels():
    assert DeviceBatches(numbered_images(20), 10, seed=0).next().labels is None


ECHOED = [
    lambda pixels: DeviceBatches(pixels, 10, seed=3, echo=3),
    lambda pixels: StreamedBatches(pixels, 10, seed=3, device=torch.device("cpu"), workers=0, echo=3),
    lambda pixels: StreamedBatches(pixels, 10, seed=3, device=torch.device("cpu"), workers=1, echo=3),
]


@pytest.mark.parametrize("make", ECHOED, ids=["device", "streamed", "streamed-worker"])
def test_an_echoed_batch_is_served_that_many_times_in_a_row_and_an_epoch_still_sees_each_image_once(make):
    batches = make(numbered_images(50))
    assert batches.steps_per_epoch == 15  # 5 batches, 3 steps each
    served = [image_numbers(batches.next().images) for _ in range(batches.steps_per_epoch)]
    assert batches.epoch == 0 and batches.position == 15
    distinct = served[::3]
    assert all(served[i] == distinct[i // 3] for i in range(15))  # each batch three times in a row
    assert sorted(n for batch in distinct for n in batch) == list(range(50))
    # the next epoch has its own order, and its first batch is echoed too
    following = [image_numbers(batches.next().images) for _ in range(3)]
    assert batches.epoch == 1 and following[0] == following[1] == following[2] != distinct[0]


def test_a_streamed_batch_is_loaded_once_for_all_its_echoes(monkeypatch):
    loads = []
    batches = StreamedBatches(numbered_images(50), 10, seed=3, device=torch.device("cpu"), workers=0, echo=4)
    gather = type(batches.loader.dataset).__getitem__
    monkeypatch.setattr(type(batches.loader.dataset), "__getitem__",
                        lambda self, indices: loads.append(indices) or gather(self, indices))
    for _ in range(batches.steps_per_epoch + 4):  # an epoch and the first batch of the next
        batches.next()
    assert len(loads) == 6 and sorted(n for batch in loads[:5] for n in batch) == list(range(50))
