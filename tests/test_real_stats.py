"""The real-feature cache: a second evaluation reuses it; changed data or another network does not."""

import torch
from conftest import StandInFeatures

from gancli.metrics.features import FeatureExtractor
from gancli.metrics.real_stats import real_features


def pixels(seed, n=20):
    return torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_the_cache_is_hit_and_invalidated_when_the_data_change(tmp_path, standin_extractor):
    real = pixels(0)
    first, hit = real_features(standin_extractor, "digits", "test", real, tmp_path)
    assert not hit and len(list(tmp_path.glob("*.safetensors"))) == 1
    again, hit = real_features(standin_extractor, "digits", "test", real, tmp_path)
    assert hit and torch.equal(first, again)

    changed = real.clone()
    changed[3, 0, 5, 5] ^= 1  # one pixel differs
    features, hit = real_features(standin_extractor, "digits", "test", changed, tmp_path)
    assert not hit and not torch.equal(features, first)

    fewer, hit = real_features(standin_extractor, "digits", "test", real[:10], tmp_path)
    assert not hit and torch.allclose(fewer, first[:10])

    other_network = FeatureExtractor(StandInFeatures(seed=1), key="standin-1", input_size=32)
    _, hit = real_features(other_network, "digits", "test", real, tmp_path)
    assert not hit
    _, hit = real_features(standin_extractor, "digits", "train", real, tmp_path)
    assert not hit


def test_a_damaged_cache_entry_is_recomputed(tmp_path, standin_extractor):
    real = pixels(1)
    first, _ = real_features(standin_extractor, "digits", "test", real, tmp_path)
    entry = next(tmp_path.glob("*.safetensors"))
    entry.write_bytes(b"damaged")
    again, hit = real_features(standin_extractor, "digits", "test", real, tmp_path)
    assert not hit and torch.equal(first, again)
    _, hit = real_features(standin_extractor, "digits", "test", real, tmp_path)
    assert hit
