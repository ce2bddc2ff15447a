"""The classifier measure on real MNIST: what it says of good, collapsed and meaningless samples,
its cache, and CAS. One reference classifier is trained per session on 6,000 test images."""

from __future__ import annotations

import json

import pytest
import torch
from dataset_files import SHARED_DATA
from safetensors import safe_open
from safetensors.torch import save_file

from gancli.datasets.loading import load_images
from gancli.metrics.classifier.reference import FORMAT, METADATA_KEY, fingerprint, reference_classifier
from gancli.metrics.classifier.scores import classification_accuracy_score, classifier_scores
from gancli.metrics.classifier.training import ClassifierRecipe, heldout_split, train_classifier, train_order

pytestmark = pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="../shared/data/mnist is absent")

SUBSET = 6000  # of the 10,000 test images: the reference trains on 5,400


@pytest.fixture(scope="session")
def mnist(tmp_path_factory):
    """The 10,000 real MNIST test images and their labels, read by gancli from the shared files."""
    root = tmp_path_factory.mktemp("data")
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (raw / name).symlink_to(SHARED_DATA / "mnist" / name)
    images = load_images("mnist", "test", data_root=root, download=False)
    return images.pixels, images.labels


@pytest.fixture(scope="session")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache") / "classifiers"


# MNIST needs fewer batches than the colour digits the default minimum is set for: with 100 the
# tests' classifiers train in less time and are as accurate on MNIST.
MNIST_RECIPE = ClassifierRecipe(min_steps=100)
# Two passes over however few images: for tests of what does not depend on accuracy.
SHORT_RECIPE = ClassifierRecipe(min_steps=0, epochs=2)


@pytest.fixture(scope="session")
def reference(mnist, cache):
    pixels, labels = mnist
    return reference_classifier(pixels[:SUBSET], labels[:SUBSET], classes=10, cache_folder=cache, recipe=MNIST_RECIPE)


@pytest.fixture(scope="session")
def unseen(mnist, reference):
    """Real images the reference never trained on: its held-out ones and all beyond the subset."""
    pixels, labels = mnist
    indices = torch.cat([reference.heldout, torch.arange(SUBSET, len(pixels))])
    return pixels[indices], labels[indices].long()


def test_the_reference_reads_real_digits_it_never_saw(reference):
    assert not reference.cached
    assert reference.accuracy >= 0.96
    assert len(reference.heldout) == SUBSET // 10
    assert reference.histogram.dtype == torch.float64 and float(reference.histogram.sum()) == pytest.approx(1)


def test_samples_of_one_digit_cover_one_class_and_are_far_from_the_data(reference, unseen):
    pixels, labels = unseen
    threes = pixels[labels == 3]
    scores = classifier_scores(reference, threes, requested=torch.full((len(threes),), 3))
    assert scores["classes_covered"] == 1 and scores["classes"] == 10
    assert scores["class_kl"] > 5  # against < 0.01 for samples spread like the data, below
    assert scores["conditional_accuracy"] > 0.95


def test_copies_of_unseen_real_images_score_like_the_data(reference, unseen):
    pixels, labels = unseen
    scores = classifier_scores(reference, pixels, requested=labels)
    assert abs(scores["conditional_accuracy"] - reference.accuracy) <= 0.02
    assert scores["classifier_accuracy"] == reference.accuracy
    assert scores["classes_covered"] == 10
    assert scores["class_kl"] < 0.01
    assert scores["recognisable"] > 0.75  # real digits the network is at least 90% sure of


@pytest.mark.parametrize("kind", ["uniform noise", "blank"])
def test_images_that_are_no_digit_are_not_recognisable(reference, kind):
    generator = torch.Generator().manual_seed(1)
    if kind == "blank":
        pixels = torch.zeros(1000, 1, 28, 28, dtype=torch.uint8)
    else:
        pixels = torch.randint(0, 256, (1000, 1, 28, 28), dtype=torch.uint8, generator=generator)
    scores = classifier_scores(reference, pixels, requested=torch.randint(0, 10, (1000,), generator=generator))
    assert scores["recognisable"] < 0.05
    assert scores["conditional_accuracy"] < 0.2


def test_the_same_images_again_read_the_cache_without_training(reference, mnist, cache):
    pixels, labels = mnist
    batches = []
    again = reference_classifier(pixels[:SUBSET], labels[:SUBSET], classes=10, cache_folder=cache,
                                 progress=lambda done, total: batches.append(done), recipe=MNIST_RECIPE)
    assert again.cached and batches == []
    assert again.accuracy == reference.accuracy and again.fingerprint == reference.fingerprint
    assert torch.equal(again.heldout, reference.heldout)
    assert torch.equal(again.probabilities(pixels[:64]), reference.probabilities(pixels[:64]))
    assert [path.name for path in cache.iterdir()] == [f"{reference.fingerprint}.safetensors"]


@pytest.fixture
def few(mnist):
    """300 images, trained in six steps by SHORT_RECIPE: enough for the cache's behaviour."""
    pixels, labels = mnist
    return pixels[:300].clone(), labels[:300].clone()


def test_one_changed_pixel_is_other_data_and_trains_anew(few, tmp_path):
    pixels, labels = few
    first = reference_classifier(pixels, labels, classes=10, cache_folder=tmp_path, recipe=SHORT_RECIPE)
    assert first.fingerprint == fingerprint(pixels, labels)
    pixels[7, 0, 14, 14] ^= 1
    second = reference_classifier(pixels, labels, classes=10, cache_folder=tmp_path, recipe=SHORT_RECIPE)
    assert not first.cached and not second.cached
    assert second.fingerprint == fingerprint(pixels, labels) != first.fingerprint
    assert {path.name for path in tmp_path.iterdir()} == {f"{first.fingerprint}.safetensors",
                                                          f"{second.fingerprint}.safetensors"}


def damage_with_garbage(path):
    path.write_bytes(b"\x93NUMPY not a safetensors file" * 10)


def rewrite_metadata(path, change):
    """The cache file with its metadata passed through `change(meta) -> meta`."""
    with safe_open(str(path), framework="pt") as cached:
        tensors = {name: cached.get_tensor(name) for name in cached.keys()}
        meta = json.loads(cached.metadata()[METADATA_KEY])
    save_file(tensors, str(path), metadata={METADATA_KEY: json.dumps(change(meta))})


def damage_to_another_format(path):
    rewrite_metadata(path, lambda meta: {**meta, "format": FORMAT + 1})


@pytest.mark.parametrize("damage", [damage_with_garbage, damage_to_another_format, lambda path: path.write_bytes(b"")])
def test_a_damaged_or_outdated_cache_file_is_trained_again_and_rewritten(few, tmp_path, damage):
    pixels, labels = few
    made = reference_classifier(pixels, labels, 10, cache_folder=tmp_path, recipe=SHORT_RECIPE)
    damage(tmp_path / f"{made.fingerprint}.safetensors")
    told = []
    retrained = reference_classifier(pixels, labels, 10, cache_folder=tmp_path, notify=told.append, recipe=SHORT_RECIPE)
    assert not retrained.cached
    assert any("cannot use the cached classifier" in line for line in told)
    assert reference_classifier(pixels, labels, 10, cache_folder=tmp_path, recipe=SHORT_RECIPE).cached


def test_a_classifier_cached_by_another_recipe_is_trained_again(few, tmp_path):
    pixels, labels = few
    reference_classifier(pixels, labels, 10, cache_folder=tmp_path, recipe=SHORT_RECIPE)
    other = ClassifierRecipe(min_steps=0, epochs=1)
    told = []
    assert not reference_classifier(pixels, labels, 10, cache_folder=tmp_path, notify=told.append, recipe=other).cached
    assert any("made by another training recipe (epochs 2)" in line for line in told)
    assert reference_classifier(pixels, labels, 10, cache_folder=tmp_path, recipe=other).cached


def test_a_cache_file_that_records_no_recipe_serves_the_default_recipe_at_its_epochs_only(few, tmp_path):
    pixels, labels = few
    made = reference_classifier(pixels, labels, 10, cache_folder=tmp_path, recipe=SHORT_RECIPE)
    path = tmp_path / f"{made.fingerprint}.safetensors"
    default_epochs = ClassifierRecipe().epochs_for(len(pixels) - len(made.heldout))
    rewrite_metadata(path, lambda meta: {**{k: v for k, v in meta.items() if k != "recipe"}, "epochs": default_epochs})
    assert reference_classifier(pixels, labels, 10, cache_folder=tmp_path).cached
    told = []
    assert not reference_classifier(pixels, labels, 10, cache_folder=tmp_path, notify=told.append,
                                    recipe=SHORT_RECIPE).cached
    assert any("a recipe it does not record" in line for line in told)


def test_an_unwritable_cache_folder_means_no_cache_and_says_so(few, tmp_path):
    pixels, labels = few
    (tmp_path / "a file").write_text("")
    told = []
    trained = reference_classifier(pixels, labels, 10, cache_folder=tmp_path / "a file" / "classifiers",
                                   notify=told.append, recipe=SHORT_RECIPE)
    assert not trained.cached and trained.accuracy > 0
    assert any("not caching the reference classifier" in line for line in told)


def test_by_default_the_cache_is_in_gancli_s_cache_folder(few, tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path))
    trained = reference_classifier(*few, classes=10, recipe=SHORT_RECIPE)
    assert (tmp_path / "classifiers" / f"{trained.fingerprint}.safetensors").is_file()
    assert reference_classifier(*few, classes=10, recipe=SHORT_RECIPE).cached


@pytest.mark.parametrize("count, fraction", [(10_000, 0.1), (7, 0.1), (2, 0.5), (5, 0.0)])
def test_the_heldout_split_is_disjoint_complete_and_seeded(count, fraction):
    train, heldout = heldout_split(count, fraction)
    assert len(heldout) >= 1 and len(train) >= 1
    assert sorted(torch.cat([train, heldout]).tolist()) == list(range(count))
    assert torch.equal(heldout_split(count, fraction)[1], heldout)
    assert torch.equal(train_order(count, heldout), train)


def test_training_is_deterministic_for_a_seed(few):
    pixels, labels = few
    first, second, other = (train_classifier(pixels[:256], labels[:256], 10, seed=seed, epochs=1)
                            for seed in (3, 3, 4))
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert not torch.equal(first.head.weight, other.head.weight)


CAS_IMAGES = 800


def test_cas_of_real_images_with_their_labels_matches_real_data(reference, mnist):
    pixels, labels = mnist
    pixels, labels = pixels[:SUBSET], labels[:SUBSET]
    # Real training images, though not the ones the real-data baseline trains on.
    fake = train_order(SUBSET, reference.heldout)[CAS_IMAGES:2 * CAS_IMAGES]
    steps = []
    scores = classification_accuracy_score(pixels[fake], labels[fake], pixels, labels, reference.heldout, 10,
                                           progress=lambda done, total: steps.append((done, total)),
                                           recipe=MNIST_RECIPE)
    assert scores["cas_real"] > 0.85
    assert scores["cas_ratio"] > 0.9
    assert scores["cas_ratio"] == pytest.approx(scores["cas"] / scores["cas_real"])
    assert steps[-1][0] == steps[-1][1] == len(steps)


def test_cas_of_images_with_wrong_labels_is_near_chance(reference, mnist):
    pixels, labels = mnist
    pixels, labels = pixels[:SUBSET], labels[:SUBSET]
    fake = train_order(SUBSET, reference.heldout)[CAS_IMAGES:2 * CAS_IMAGES]
    wrong = labels[fake][torch.randperm(CAS_IMAGES, generator=torch.Generator().manual_seed(0))]
    scores = classification_accuracy_score(pixels[fake], wrong, pixels, labels, reference.heldout, 10,
                                           recipe=SHORT_RECIPE)
    assert scores["cas"] < 0.2 < scores["cas_real"]
