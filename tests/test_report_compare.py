"""`gancli report RUN1 RUN2 ...`: several real runs on one page, read as a person reads it."""

import base64
import json
import re
import shutil
import statistics

import pytest
import test_report
from conftest import StandInFeatures, tiny_config
from test_report import CHROMIUM, rendered
from typer.testing import CliRunner

from gancli.cli import app
from gancli.metrics.features import FeatureExtractor
from gancli.report import write_comparison
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train

# Two seeds of one config, and the same with another learning rate: each evaluated twice (FID).
RUNS = {"seed-0": {"seed": 0}, "seed-1": {"seed": 1}, "fast-lr": {"seed": 0, "lr": 4e-4}}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The three runs' folders, trained once for the module; tests must not modify them."""
    root = tmp_path_factory.mktemp("compared")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("GANCLI_CACHE", str(root / "cache"))
        return [train(tiny_config(root / name, steps=4, eval_every=2, eval_num=16, checkpoint_every=2,
                                  sample_every=2, log_every=1, **values), reporter=Reporter(),
                      feature_extractor=FeatureExtractor(StandInFeatures(), key="standin-0", input_size=32)).out
                for name, values in RUNS.items()]


@pytest.fixture(scope="module")
def page(runs, tmp_path_factory):
    return write_comparison(runs, tmp_path_factory.mktemp("page") / "compare.html").read_text()


def section(page, title):
    return page.split(f"<h2>{title}</h2>", 1)[1].split("<h2>", 1)[0]


def last_fid(run):
    return [json.loads(line)["fid"] for line in (run / "metrics.jsonl").read_text().splitlines()
            if "fid" in json.loads(line)][-1]


def invoke(*args):
    return CliRunner().invoke(app, ["report", *map(str, args)])


def test_the_page_names_every_run_with_its_last_score_and_the_keys_that_differ(page, runs):
    assert page.count("<tr><td><span class='swatch'") == 3
    final = section(page, "Final scores")
    for run in runs:
        assert f"<td>{run.name}</td><td class='number'>4</td><td class='number'>{last_fid(run):.2f}</td>" in final
    differs = section(page, "What differs")
    assert "The runs' configs differ in lr, seed:" in differs
    assert "<tr><td>lr</td><td>null</td><td>null</td><td>0.0004</td></tr>" in differs
    assert "<tr><td>seed</td><td>0</td><td>1</td><td>0</td></tr>" in differs
    assert "<td>out</td>" not in differs  # where each run was written is no difference


def test_runs_that_differ_only_in_seed_read_as_mean_and_std_over_the_seeds(page, runs):
    seeds = section(page, "Final scores").split("<h3>Over seeds</h3>", 1)[1]
    fids = [last_fid(run) for run in runs[:2]]
    group = re.search(r"<tr><td>lr: null</td><td>0, 1</td><td>seed-0, seed-1</td><td>4</td>"
                      r"<td class='number'>([0-9.]+) ± ([0-9.]+)</td>", seeds)
    assert group, seeds
    mean, spread = group.groups()
    half_unit = 0.5 * 10 ** -len(spread.split(".")[1])
    assert abs(float(mean) - statistics.mean(fids)) <= half_unit
    assert abs(float(spread) - statistics.stdev(fids)) <= half_unit  # the sample std, over the seeds
    assert abs(float(spread) - statistics.pstdev(fids)) > half_unit
    assert len(spread.strip("0.")) >= 2  # the std to two significant figures, however small
    alone = f"<td>fast-lr</td><td>4</td><td class='number'>{last_fid(runs[2]):.2f}</td>"
    assert f"<tr><td>lr: 0.0004</td><td>0</td>{alone}" in seeds  # one run: its score, no ±


def figures(page, title):
    return re.findall(r"<svg.*?</svg>", section(page, title), flags=re.S)


def test_every_curve_and_score_overlays_the_runs_one_colour_each_with_a_legend(page, runs):
    assert len(figures(page, "Training curves")) == 3  # losses, D(x) and D(G(z)), images/s
    assert any("FID (lower is better)" in figure for figure in figures(page, "Scores over training"))
    for title in ("Training curves", "Scores over training"):
        for figure in figures(page, title):
            legend = re.findall(r"<text[^>]*>([^<]+)</text>", figure)
            assert all(run.name in legend for run in runs), (title, legend)
            assert {"#1f77b4", "#ff7f0e", "#2ca02c"} <= set(re.findall(r"stroke: (#[0-9a-f]{6})", figure))


def test_each_runs_newest_grid_is_embedded_side_by_side(page, runs):
    samples = section(page, "Last samples")
    for run in runs:
        newest = sorted((run / "samples").glob("step-*.png"))[-1]
        assert newest.name == "step-0000004.png"
        data = base64.b64encode(newest.read_bytes()).decode("ascii")
        assert f"<img src='data:image/png;base64,{data}'" in samples
        assert f"<figcaption>{run.name}, step 4</figcaption>" in samples


def test_a_run_with_no_readings_yet_is_shown_with_what_it_has(runs, tmp_path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy(runs[0] / "config.yaml", fresh / "config.yaml")
    result = invoke(runs[0], fresh, "--out", tmp_path / "compare.html")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "compare.html").read_text()
    assert "<td>fresh</td><td class='number'>no readings yet</td>" in section(page, "Final scores")
    assert "<figure><p>no grid yet</p><figcaption>fresh</figcaption></figure>" in section(page, "Last samples")
    assert "2 of 2 runs have scores" not in page and "1 of 2 runs have scores" in page


def test_last_scores_under_different_protocols_are_said_to_be_not_comparable(runs, tmp_path):
    def compared(*images):
        for run, count in zip(runs[:2], images):
            shutil.copytree(run, tmp_path / run.name, dirs_exist_ok=True)
            with (tmp_path / run.name / "metrics.jsonl").open("a") as metrics:
                record = {"step": 5, "fid": 20.0, "protocol": {"images": count, "network": "n"}}
                metrics.write(json.dumps(record) + "\n")
        return section(write_comparison([tmp_path / run.name for run in runs[:2]], tmp_path / "compare.html")
                       .read_text(), "Final scores")

    alike = compared(5000, 5000)
    assert "All measured under one protocol: images: 5000, network: n" in alike and "not comparable" not in alike
    assert "<td class='number'>20.00 ± 0.00</td>" in alike  # the same score twice, averaged
    final = compared(5000, 10000)
    assert "<th>protocol</th>" in final and "<td>images: 5000</td>" in final and "<td>images: 10000</td>" in final
    assert "measured under different protocols (they differ in images): they are not comparable" in final
    assert "<td>measured under different protocols: not averaged</td>" in final


def test_without_out_the_page_is_compare_html_here_and_replaces_only_a_comparison(runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = invoke(*runs)
    assert first.exit_code == 0 and first.output == "Wrote compare.html\n", first.output
    assert invoke(*runs[:2]).exit_code == 0  # its own page it replaces
    assert "seed-0, seed-1" in (tmp_path / "compare.html").read_text()
    (tmp_path / "compare.html").write_text("notes of my own")
    refused = invoke(*runs)
    assert refused.exit_code == 1 and "compare.html exists and is no gancli comparison" in refused.output
    assert (tmp_path / "compare.html").read_text() == "notes of my own"


def test_bad_input_is_one_line_and_a_non_zero_exit(runs, tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [((runs[0], tmp_path / "empty"), "holds no gancli run (no config.yaml)"),
             ((runs[0], runs[1], runs[0]), "is named twice: compare different runs"),
             ((runs[0], runs[0].parent / ".." / runs[0].parent.name / runs[0].name), "are one folder"),
             ((runs[0], runs[1], "--timelapse"), "rebuilds one run's timelapse")]
    for args, message in cases:
        result = invoke(*args, "--out", tmp_path / "compare.html")
        assert result.exit_code != 0 and message in result.output, (args, result.output)
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1, result.output
    assert not (tmp_path / "compare.html").exists()


def test_one_folder_still_writes_its_own_report(runs):
    result = invoke(runs[0])
    assert result.exit_code == 0 and result.output == f"Wrote {runs[0] / 'report.html'}\n"
    page = (runs[0] / "report.html").read_text()
    (runs[0] / "report.html").unlink()  # the folder as the other tests found it
    assert "<h1>gancli run seed-0</h1>" in page and "runs compared" not in page


TEXT_PROBE = test_report.PROBE.replace(
    "document.getElementById(\"result\").textContent = JSON.stringify({shown, fetched});",
    "const texts = [...page.document.querySelectorAll(\"svg text, table\")].map(element => {"
    " const box = element.getBoundingClientRect();"
    " return {tag: element.tagName.toLowerCase(), text: element.textContent, width: box.width, height: box.height}; });"
    " document.getElementById(\"result\").textContent = JSON.stringify({shown, fetched, texts});")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium), as .ci/run installs it")
def test_the_comparison_renders_in_a_browser_with_its_legends_and_tables(page, runs, tmp_path, monkeypatch):
    assert TEXT_PROBE != test_report.PROBE
    monkeypatch.setattr(test_report, "PROBE", TEXT_PROBE)  # the same browser, asked for the text it lays out too
    report = tmp_path / "compare.html"
    report.write_text(page)
    assert not re.search(r"(src|href)=['\"]?https?:|url\(\s*['\"]?https?:|<script|<link", page)  # all inline
    shown = rendered(report, tmp_path)
    assert shown["fetched"] == []
    images = [item for item in shown["shown"] if item["tag"] == "img"]
    plots = [item for item in shown["shown"] if item["tag"] == "svg"]
    scores = len(figures(page, "Scores over training"))
    assert scores >= 1 and len(plots) == 3 + scores and len(images) == len(runs)  # the curves, the scores; each grid
    assert all(item["loaded"] and item["width"] > 0 and item["height"] > 0 for item in shown["shown"]), shown
    laid_out = [item for item in shown["texts"] if item["width"] > 0 and item["height"] > 0]
    legend = [item["text"] for item in laid_out if item["tag"] == "text"]
    assert all(legend.count(run.name) == len(plots) for run in runs), legend  # in each figure's legend
    tables = [item["text"] for item in laid_out if item["tag"] == "table"]
    assert any(all(run.name in text for run in runs) and "FID" in text for text in tables), tables
    assert any("±" in text and "seed-0, seed-1" in text for text in tables), tables
