"""`gancli report` rendered by a real browser, and the training timelapse."""

import json
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image, ImageSequence
from test_crash_safety import TINY, start_training, wait_for_steps

from gancli.report import write_report
from gancli.training.reporting import Reporter
from gancli.training.run.trainer import train

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PROBE = """<!doctype html><html><body><pre id="result">pending</pre>
<iframe id="report" src="REPORT" width="1200" height="3000"></iframe>
<script>
document.getElementById("report").addEventListener("load", () => {
  const page = document.getElementById("report").contentWindow;
  const shown = [...page.document.querySelectorAll("img, svg")].map(element => {
    const box = element.getBoundingClientRect();
    return {tag: element.tagName.toLowerCase(), width: box.width, height: box.height,
            loaded: element.tagName !== "IMG" || (element.complete && element.naturalWidth > 0)};
  });
  const fetched = page.performance.getEntriesByType("resource").map(entry => entry.name)
    .filter(name => !name.startsWith("data:"));
  document.getElementById("result").textContent = JSON.stringify({shown, fetched});
});
</script></body></html>"""


def rendered(report, tmp_path):
    """What Chromium shows of `report`: each image and plot with its size, and any fetch it made."""
    probe = tmp_path / "probe.html"
    probe.write_text(PROBE.replace("REPORT", report.as_uri()))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         "--allow-file-access-from-files", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000",
         "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    text = result.stdout.split('<pre id="result">', 1)[1].split("</pre>", 1)[0]
    return json.loads(text.replace("&quot;", '"'))


def finished_run(tmp_path):
    return train(tiny_config(tmp_path / "finished", steps=4, sample_every=2, log_every=1), reporter=Reporter()).out


def interrupted_run(tmp_path):
    out = tmp_path / "interrupted"
    process = start_training("--steps", 100_000, "--sample-every", 2, "--out", out)
    wait_for_steps(process, out / "metrics.jsonl", 3)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=300) == 130
    return out


def torchrun_run(tmp_path):
    out = tmp_path / "torchrun"
    result = subprocess.run([sys.executable, "-m", "gancli", "train", "--nproc", "2", *TINY, "--steps", "4",
                             "--sample-every", "2", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return out


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium), as .ci/run installs it")
@pytest.mark.parametrize("make_run", [finished_run, interrupted_run, torchrun_run])
def test_the_report_renders_every_figure_in_a_browser_without_the_network(tmp_path, make_run):
    run = make_run(tmp_path)
    report = write_report(run, tmp_path / "report.html")
    page = report.read_text()
    assert not re.search(r"(src|href)=['\"]?https?:|url\(\s*['\"]?https?:|<script|<link", page)  # all inline
    shown = rendered(report, tmp_path)
    assert shown["fetched"] == []
    images = [item for item in shown["shown"] if item["tag"] == "img"]
    plots = [item for item in shown["shown"] if item["tag"] == "svg"]
    assert len(plots) >= 3 and len(images) >= 2 + 2  # three curves; the grids over training, real and generated
    assert all(item["loaded"] and item["width"] > 0 and item["height"] > 0 for item in shown["shown"]), shown
    ended = {"finished": "finished at step 4", "interrupted": "interrupted at step", "torchrun": "finished at step 4"}
    assert ended[run.name] in page


def test_the_timelapse_has_one_frame_per_grid_in_step_order(tmp_path):
    out = train(tiny_config(tmp_path / "run", steps=4, sample_every=1, log_every=1), reporter=Reporter()).out
    grids = sorted((out / "samples").glob("step-*.png"))
    with Image.open(out / "samples" / "timelapse.gif") as gif:
        frames = [torch.from_numpy(np.asarray(frame.convert("RGB"), dtype=np.float32))
                  for frame in ImageSequence.Iterator(gif)]
    pictures = [torch.from_numpy(np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)) for path in grids]
    assert len(frames) == len(grids) == 4
    distance = torch.stack([torch.stack([(f - p).abs().mean() for p in pictures]) for f in frames])
    assert distance.argmin(dim=1).tolist() == [0, 1, 2, 3]  # each frame is its own grid (GIF colours aside)


def test_with_imageio_ffmpeg_the_timelapse_is_an_mp4_too(tmp_path):
    pytest.importorskip("imageio_ffmpeg", reason="the MP4 needs the optional imageio-ffmpeg")
    import imageio_ffmpeg

    out = train(tiny_config(tmp_path / "run", steps=3, sample_every=1, log_every=1), reporter=Reporter()).out
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(out / "samples" / "timelapse.mp4"),
                            "-f", "null", "-"], capture_output=True, text=True)
    assert probe.returncode == 0 and "h264" in probe.stderr
    assert re.search(r"frame=\s*3\b", probe.stderr), probe.stderr[-500:]


# -- how good the run is, how long it took, and on what ------------------------------------------------------

def evaluated_run(tmp_path, extractor, **overrides):
    config = tiny_config(tmp_path / "evaluated", steps=4, eval_every=2, eval_num=16, checkpoint_every=2,
                         sample_every=2, log_every=1, **overrides)
    return train(config, reporter=Reporter(), feature_extractor=extractor).out


def test_the_report_shows_every_score_over_steps_and_each_checkpoints_score(tmp_path, standin_extractor, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    run = evaluated_run(tmp_path, standin_extractor)
    scores = {json.loads(line)["step"]: json.loads(line)["fid"] for line in (run / "metrics.jsonl").read_text().splitlines()
              if "fid" in json.loads(line)}
    assert sorted(scores) == [2, 4]
    page = write_report(run, tmp_path / "report.html").read_text()
    evaluation = page.split("<h2>Evaluation</h2>", 1)[1].split("<h2>", 1)[0]
    assert "FID (lower is better)" in evaluation and evaluation.count("<svg") == 2  # FID and diversity
    for step, fid in scores.items():
        assert f"<td class='number'>{step}</td><td class='number'>{fid:.2f}</td>" in evaluation
    checkpoints = page.split("<h2>Checkpoints</h2>", 1)[1]
    for name, step in (("last.safetensors", 4), ("step-0000002.safetensors", 2), ("step-0000004.safetensors", 4)):
        assert f"<td>{name}</td><td class='number'>{step}</td><td>FID {scores[step]:.2f}, diversity " in checkpoints
    summary = page.split("<h2>", 1)[0]
    assert re.search(r"<th>Training time</th><td>about \d+ s, its logged intervals added up", summary)
    assert "<th>Trained on</th><td>cpu " in summary and f"FID {scores[4]:.2f}, diversity " in summary


def test_a_score_measured_under_a_protocol_shows_it_once_or_per_row_when_they_differ(tmp_path, tiny_run):
    from gancli.metrics.protocol import Protocol

    run = tmp_path / "run"
    shutil.copytree(tiny_run.out, run)
    ours = Protocol(("fid",), 2000, 2000, "gancli:mnist/test", "a" * 16, "inception-sd-6726825d", "bilinear to 299x299",
                    "EMA", "fp32", 12345)
    with (run / "metrics.jsonl").open("a") as metrics:
        for step in (2, 4):
            metrics.write(json.dumps({"step": step, "fid": 12.5 + step, "protocol": ours.as_dict()}) + "\n")
    page = write_report(run, tmp_path / "report.html").read_text()
    evaluation = page.split("<h2>Evaluation</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<th>protocol</th>" not in evaluation and "16.50" in evaluation
    assert f"Every score measured under one protocol: {ours.line().removeprefix('protocol: ')}" in evaluation

    with (run / "metrics.jsonl").open("a") as metrics:  # another tool's protocol at a later step
        metrics.write(json.dumps({"step": 6, "fid": 9.0, "protocol": {"images": 5000, "network": "inception-v3",
                                                                       "reference": {"data": "synthetic"}}}) + "\n")
    page = write_report(run, tmp_path / "report.html").read_text()
    evaluation = page.split("<h2>Evaluation</h2>", 1)[1].split("<h2>", 1)[0]
    assert "<th>protocol</th>" in evaluation and "9.00" in evaluation
    assert "images: 5000, network: inception-v3, reference: (data: synthetic)" in evaluation
    assert "2,000 EMA samples (seed 12345, fp32) vs 2,000 real gancli:mnist/test #aaaaaaaa" in evaluation


def test_the_report_shows_memorisation_found_by_eval(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run.out, run)
    (run / "memorisation").mkdir()
    (run / "memorisation" / "last.json").write_text(json.dumps(
        {"checkpoint": "last.safetensors", "memorisation_share": 0.62, "memorisation_z": -7.5, "memorised": 1.0}))
    shutil.copy(next((run / "samples").glob("step-*.png")), run / "memorisation" / "last.png")
    page = write_report(run, tmp_path / "report.html").read_text()
    section = page.split("<h2>Memorisation</h2>", 1)[1].split("<h2>", 1)[0]
    assert "62.0% of samples nearer to a training image" in section and "z -7.50; flagged" in section
    assert section.count("<img src='data:image/png;base64,") == 1 and "below each: that training image" in section


def test_a_conditional_runs_grids_name_the_class_of_each_row(conditional_run, tmp_path):
    page = write_report(conditional_run.out, tmp_path / "report.html").read_text()
    grids = page.split("<h2>Samples over training</h2>", 1)[1].split("<h2>", 1)[0]
    labels = re.findall(r"<div class='classes'>(.*?)</div>", grids)
    assert len(labels) == len(list((conditional_run.out / "samples").glob("step-*.png"))) == 2
    assert all(re.findall(r">([^<]+)</span>", row) == [str(digit) for digit in range(10)] for row in labels)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (apt-get install chromium), as .ci/run installs it")
def test_the_evaluation_section_renders_in_a_browser(tmp_path, standin_extractor, monkeypatch):
    monkeypatch.setenv("GANCLI_CACHE", str(tmp_path / "cache"))
    run = evaluated_run(tmp_path, standin_extractor, conditional=True)
    report = write_report(run, tmp_path / "report.html")
    shown = rendered(report, tmp_path)
    assert shown["fetched"] == []
    plots = [item for item in shown["shown"] if item["tag"] == "svg"]
    assert len(plots) == 3 + 2  # the curves, and FID and diversity over steps
    assert all(item["loaded"] and item["width"] > 0 and item["height"] > 0 for item in shown["shown"]), shown
