"""The HTML report in a real headless Chromium: no console errors, no network, charts present."""

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fwbench.cli import app
from fwbench.plan import Selection
from fwbench.runner import RunOptions, run
from fwbench.spec.loader import load_specs
from fwbench.timing import TimerSettings
from tests.conftest import REQUIRE_ALL

SPEC = """
version: 1
workloads:
  - name: power_sum
    kind: expression
    expr: "x + x*x + x*x*x"
    inputs:
      x: {shape: [n, n]}
    sweep: {n: [32, 128]}
  - name: evil
    kind: expression
    description: "<img src=x onerror=alert(2)><script>alert(3)</script>"
    expr: "x * 2"
    inputs:
      x: {shape: [n]}
    sweep: {n: [8, 64]}
"""
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "Debian's chromium is not installed ('make chromium' installs it)"
        if REQUIRE_ALL:
            pytest.fail(message)
        pytest.skip(message)
    return path


def open_in_chromium(html_path: Path, screenshot: Path) -> dict:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if REQUIRE_ALL:
            pytest.fail("playwright is not installed")
        pytest.skip("playwright is not installed")
    url = html_path.resolve().as_uri()
    seen = {"console_errors": [], "page_errors": [], "requests": [], "dialogs": []}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.on("console", lambda message: message.type == "error" and seen["console_errors"].append(message.text))
        page.on("pageerror", lambda error: seen["page_errors"].append(str(error)))
        page.on("request", lambda request: request.url != url and seen["requests"].append(request.url))
        page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
        page.goto(url)
        page.wait_for_load_state("networkidle")
        seen["charts"] = page.locator("svg.chart").count()
        seen["sections"] = page.locator("section.workload").count()
        first_table = page.locator("section.workload table.sortable").first
        before = first_table.locator("tbody tr td:first-child").all_inner_texts()
        first_table.locator("th").first.click()
        first_table.locator("th").first.click()
        seen["sorted"] = first_table.locator("tbody tr td:first-child").all_inner_texts()
        seen["unsorted"] = before
        seen["title_text"] = page.locator("h2").all_inner_texts()
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return seen


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("report")
    spec = directory / "spec.yaml"
    spec.write_text(SPEC)
    run(load_specs([spec]), RunOptions(out_dir=directory / "run", timer=TimerSettings.quick(),
                                       selection=Selection(frameworks=["numpy", "jax"], devices=["cpu"])))
    # Spec names cannot hold '<', but a results file is input too: add a hostile record by hand.
    import json

    results = directory / "run" / "results.jsonl"
    records = [json.loads(line) for line in results.read_text().splitlines()]
    hostile = dict(records[-1], workload="evil<script>alert(1)</script>",
                   description="sum(<script>alert(4)</script>)", cell_id="evil<script>alert(1)</script>[n=8]")
    with results.open("a") as handle:
        handle.write(json.dumps(hostile) + "\n")
    result = CliRunner().invoke(app, ["report", str(directory / "run")])
    assert result.exit_code == 0, result.output
    return directory / "run"


def test_report_in_chromium_has_charts_and_no_errors_or_requests(report_dir, tmp_path):
    html = (report_dir / "report.html").read_text()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "<script>alert(3)" not in html and "<script>alert(4)" not in html
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    seen = open_in_chromium(report_dir / "report.html", tmp_path / "report.png")
    assert seen["console_errors"] == [] and seen["page_errors"] == []
    assert seen["requests"] == []
    assert seen["dialogs"] == []  # nothing from the spec ran
    assert seen["sections"] == 3
    assert seen["charts"] >= 3 * 3  # time vs size, speedup, first call vs steady (and bandwidth) per workload
    assert sorted(seen["unsorted"]) == seen["sorted"] or sorted(seen["unsorted"], reverse=True) == seen["sorted"]
    assert "evil<script>alert(1)</script>" in seen["title_text"]  # shown as text, not run
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_markdown_report_escapes_spec_strings(report_dir):
    markdown = (report_dir / "report.md").read_text()
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    assert "## Leaderboard" in markdown


def test_github_action_benchmark_json(report_dir, tmp_path):
    import json

    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["report", str(report_dir), "--github-action-benchmark", str(out)])
    assert result.exit_code == 0, result.output
    entries = json.loads(out.read_text())
    assert entries and {"name", "unit", "value", "range", "extra"} <= set(entries[0])
    assert all(entry["unit"] == "s" and entry["value"] > 0 for entry in entries)
