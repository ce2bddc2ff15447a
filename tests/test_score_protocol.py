"""Scores that explain themselves: the protocol with every score, the real-data floor, FID's
spread and its sample-size bias, memorisation, and the best checkpoint across protocols."""

import json
import math

import pytest
import torch
from conftest import StandInFeatures, tiny_config
from typer.testing import CliRunner

from gancli.checkpoints.format import read_info
from gancli.cli import app
from gancli.datasets.loading import load_images
from gancli.metrics.evaluation import generated_pixels
from gancli.metrics.memorisation import mann_whitney_z, memorisation
from gancli.metrics.protocol import Protocol
from gancli.metrics.scores import FrechetReference, GaussianStats, fid_bootstrap, fid_infinity, frechet_distance
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train

runner = CliRunner()
PROTOCOL_FIELDS = {"metrics", "generated", "real", "reference", "reference_hash", "network", "resize", "generator",
                   "precision", "seed", "classifier", "gancli"}


# -- FID's spread and its bias, on Gaussian features whose distance is known --------------------

def population(dim: int) -> GaussianStats:
    return GaussianStats(torch.zeros(dim, dtype=torch.float64), torch.eye(dim, dtype=torch.float64))


def draw(n: int, dim: int, shift: float, seed: int) -> torch.Tensor:
    """n features from N(shift * e_1, I): FID to N(0, I) is exactly shift^2."""
    features = torch.randn(n, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    features[:, 0] += shift
    return features


def test_bootstrap_spread_matches_the_spread_of_fid_over_new_draws():
    reference = FrechetReference(population(6))
    scores = torch.tensor([reference.distance(GaussianStats.of(draw(400, 6, 1.0, seed))) for seed in range(40)])
    spreads = [fid_bootstrap(reference, draw(400, 6, 1.0, 1000 + seed), rounds=40) for seed in range(3)]
    for spread in spreads:  # a bootstrap estimates the spread of new draws, roughly
        assert 0.5 < spread / float(scores.std()) < 2.0


def test_fid_infinity_removes_most_of_the_small_sample_bias():
    reference = FrechetReference(population(64))
    features = draw(600, 64, 1.0, 0)
    finite = reference.distance(GaussianStats.of(features))
    extrapolated = fid_infinity(reference, features, points=8)
    assert finite - 1.0 > 1.5  # at N = 600 in 64 dimensions FID is far above the true 1.0
    assert abs(extrapolated.value - 1.0) < 0.25 * (finite - 1.0)
    assert [n for n, _ in extrapolated.points][-1] == 600 and len(extrapolated.points) == 8


def test_the_frechet_reference_gives_the_closed_form_distance():
    a, b = GaussianStats.of(draw(300, 5, 0.0, 1)), GaussianStats.of(draw(300, 5, 2.0, 2))
    assert FrechetReference(a).distance(b) == pytest.approx(frechet_distance(a, b), rel=1e-12)


# -- memorisation ---------------------------------------------------------------------------

class CopyingGenerator(torch.nn.Module):
    """Returns training images, one per latent: the generator memorisation must flag."""

    def __init__(self, images: torch.Tensor):
        super().__init__()
        self.register_buffer("images", images.float() / 127.5 - 1)

    def forward(self, z):
        picks = (z[:, 0].abs() * 1e6).long() % self.images.shape[0]
        return self.images[picks]


def latents(n, generator=None):
    return torch.randn(n, 4, generator=generator)


def test_memorisation_flags_a_generator_that_returns_its_training_images_and_not_one_that_does_not():
    extractor_network = StandInFeatures()
    pixels = load_images("synthetic", "train").pixels[:900]
    train_images, heldout, fresh = pixels[:300], pixels[300:600], pixels[600:900]

    def features(images):
        with torch.no_grad():
            return extractor_network(images.float().expand(-1, 3, -1, -1) / 128 - 1)

    copier = generated_pixels(CopyingGenerator(train_images), latents, 300, 0, "cpu")
    newcomer = generated_pixels(CopyingGenerator(fresh), latents, 300, 0, "cpu")  # the data's, never trained on
    copied = memorisation(features(train_images), features(heldout), features(copier))
    honest = memorisation(features(train_images), features(heldout), features(newcomer))
    assert copied.flagged and copied.share > 0.9 and copied.z < -10
    assert not honest.flagged and honest.share < 0.15 and abs(honest.z) < 3
    assert float(copied.distance.max()) < 0.01 * float(honest.distance.median())  # each copy found itself


def test_mann_whitney_z_says_which_side_is_smaller():
    small, large = torch.arange(50.0), torch.arange(50.0) + 100
    assert mann_whitney_z(small, large) < -8 < 8 < mann_whitney_z(large, small)
    assert mann_whitney_z(small, small.clone()) == pytest.approx(0.0, abs=1e-9)


# -- gancli eval ------------------------------------------------------------------------------

@pytest.fixture
def standin_weights(tmp_path):
    path = tmp_path / "standin.pt"
    torch.jit.script(StandInFeatures()).save(str(path))
    return path


def test_eval_prints_the_protocol_the_real_data_floor_and_fids_spread(tiny_run, standin_weights, tmp_path,
                                                                      monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    args = ["eval", str(tiny_run.last_checkpoint), "--split", "test", "--num", "60", "--metrics", "fid",
            "--inception", str(standin_weights), "--device", "cpu", "--bootstrap", "5"]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    protocol = report["protocol"]
    assert set(protocol) == PROTOCOL_FIELDS
    assert protocol["generated"] == 60 and protocol["real"] == report["num_real"]
    assert protocol["reference"] == "gancli:synthetic/test" and len(protocol["reference_hash"]) == 16
    assert protocol["network"].startswith("inception-ts-") and protocol["resize"] == "bilinear to 299x299"
    assert protocol["generator"] == ("EMA" if report["network"] == "generator_ema" else "raw")
    assert protocol["precision"] == "fp32" and protocol["gancli"]
    assert report["fid_std"] > 0 and report["fid_floor_n"] == 60 and report["fid_floor"] >= 0

    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert f"real vs real at 60: {report['fid_floor']:.3g}" in table.output and "±" in table.output
    assert Protocol.from_dict(protocol).line() in table.output
    floors = list((tmp_path / "cache" / "real-features").glob("*-floor-n60-*.json"))
    assert len(floors) == 1 and json.loads(floors[0].read_text())["fid"] == pytest.approx(report["fid_floor"])


def test_eval_measures_memorisation_against_images_the_generator_never_saw(tiny_run, standin_weights, tmp_path,
                                                                           monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    for extra, message in ((["--split", "test", "--metrics", "memorisation"], "is what the generator trained on"),
                           (["--split", "train", "--pairs", str(tmp_path / "p.png")], "add memorisation to --metrics")):
        refused = runner.invoke(app, ["eval", str(tiny_run.last_checkpoint), "--num", "8", "--device", "cpu", *extra])
        assert refused.exit_code != 0 and message in refused.output and "Traceback" not in refused.output

    run = train(tiny_config(tmp_path / "run"), reporter=Reporter()).out  # trained on synthetic's test split
    result = runner.invoke(app, ["eval", str(run), "--split", "train", "--num", "40", "--num-real", "80",
                                 "--num-train", "100", "--metrics", "memorisation", "--inception",
                                 str(standin_weights), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "memorisation" in result.output and "not flagged" in result.output  # a 4-step generator copies nothing
    kept = json.loads((run / "memorisation" / "last.json").read_text())
    assert kept["memorisation_train"] == 100 and kept["protocol"]["metrics"] == ["memorisation"]
    assert {"memorisation_share", "memorisation_z", "memorised"} <= set(kept)
    from PIL import Image

    with Image.open(run / "memorisation" / "last.png") as grid:  # eight generated images above their neighbours
        assert grid.size[0] > 3 * grid.size[1]


# -- training: the protocol in metrics.jsonl and the best checkpoint ------------------------------

def test_the_best_checkpoint_keeps_its_protocol_and_a_resume_measured_otherwise_starts_a_new_best(
        tmp_path, standin_extractor, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    train(tiny_config(out, steps=2, eval_every=2, eval_num=16), reporter=Reporter(), feature_extractor=standin_extractor)
    first = read_info(out / "checkpoints" / "best.safetensors")
    assert first.score_protocol["generated"] == 16 and first.scores["fid"] > 0
    record = next(json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if '"fid"' in line)
    assert record["protocol"] == first.score_protocol and record["fid"] == first.scores["fid"]

    heard = []

    class Listening(Reporter):
        def notify(self, text):
            heard.append(text)

    monkeypatch.setattr(FrechetReference, "distance", lambda self, other: 1e9)  # far worse than the first best
    train(tiny_config(out, steps=4, eval_every=2, eval_num=24), reporter=Listening(), resume=out,
          feature_extractor=standin_extractor)
    notes = [text for text in heard if "another protocol" in text]
    assert len(notes) == 1 and "generated 16 -> 24" in notes[0]
    best = read_info(out / "checkpoints" / "best.safetensors")
    assert best.step == 4 and best.score_protocol["generated"] == 24 and best.scores["fid"] == 1e9

    heard.clear()  # the same protocol again: the new best stands against a worse score
    monkeypatch.setattr(FrechetReference, "distance", lambda self, other: 2e9)
    train(tiny_config(out, steps=6, eval_every=2, eval_num=24), reporter=Listening(), resume=out,
          feature_extractor=standin_extractor)
    assert not [text for text in heard if "another protocol" in text]
    assert read_info(out / "checkpoints" / "best.safetensors").step == 4


def test_a_protocol_reads_back_and_says_what_differs():
    a = Protocol(("fid",), 2000, 10000, "mnist/test", "0" * 16, "inception-sd-1", "bilinear to 299x299", "EMA",
                 "fp32", 0)
    assert Protocol.from_dict(json.loads(json.dumps(a.as_dict()))) == a
    b = Protocol.from_dict({**a.as_dict(), "generated": 5000, "gancli": "9.9"})
    assert a.differences(b) == ["generated 2,000 -> 5,000"]  # the version is told, not compared
    assert Protocol.from_dict({"generated": 1}) is None and Protocol.from_dict("x") is None
    assert not math.isnan(a.seed)


def test_every_evaluation_while_training_measures_the_samples_diversity():
    from gancli.training.run.best import RunScorer

    images = load_images("synthetic", "test")
    scorer = RunScorer(images, "synthetic", "test", 64, conditional=False)
    varied = scorer.score(CopyingGenerator(images.pixels[100:400]), latents, "cpu").scores["diversity"]
    collapsed = scorer.score(CopyingGenerator(images.pixels[:1]), latents, "cpu").scores["diversity"]
    assert 0.8 < varied < 1.25 and collapsed < 0.01
    assert scorer.protocol.generated == 64 and scorer.protocol.reference == "synthetic/test"
