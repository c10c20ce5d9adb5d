"""The HTML report in a real headless Chromium: no console errors, no network, charts present."""

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fwbench.cli import app
from fwbench.execution.plan import Selection
from fwbench.execution.runner import RunOptions, run
from fwbench.spec.loader import load_specs
from fwbench.stats.timing import TimerSettings
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
        seen["panels"] = page.locator("svg.panels").count()
        seen["sections"] = page.locator("section.workload").count()
        panels = page.locator("svg.panels").first.bounding_box()
        summary = page.locator("table.summary")
        first_row = summary.locator("tbody tr").first.bounding_box()
        lists = [box for box in (item.bounding_box() for item in page.locator("ul").all()) if box]
        seen["first_screen"] = {"chart_bottom": panels["y"] + panels["height"] if panels else None,
                                "summary_first_row_bottom": first_row["y"] + first_row["height"] if first_row else None,
                                "summary_bottom": summary.bounding_box()["y"] + summary.bounding_box()["height"],
                                "first_visible_list_y": min((box["y"] for box in lists), default=None)}
        seen["summary_rows"] = summary.locator("tbody tr").all_text_contents()
        seen["headings"] = page.locator("h1").all_inner_texts()
        seen["findings"] = page.locator("section.findings li").all_text_contents()
        page.evaluate("document.querySelectorAll('details').forEach(item => item.open = true)")
        detail = page.locator("section.workload details table.sortable").first  # every cell, median in column 3
        medians = detail.locator("tbody tr td:nth-child(3)")
        def keys():
            return medians.evaluate_all("cells => cells.map(c => parseFloat(c.getAttribute('data-sort')))")
        seen["median_order"] = [keys()]
        for _ in range(2):
            detail.locator("th").nth(2).click()
            seen["median_order"].append(keys())
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
    assert seen["panels"] == 1 and seen["charts"] == 1 + 3  # the speedup panels, and time vs size per workload
    before, ascending, descending = seen["median_order"]
    assert len(before) >= 4 and len(set(before)) == len(before)
    assert ascending == sorted(before) and descending == sorted(before, reverse=True)
    # the first screen (1300 x 900): the title, the chart and the summary table; no list of sentences above
    screen = seen["first_screen"]
    assert seen["headings"] == ["fwbench report"]
    assert screen["chart_bottom"] is not None and screen["chart_bottom"] <= 900
    assert screen["summary_first_row_bottom"] is not None and screen["summary_first_row_bottom"] <= 900
    assert screen["first_visible_list_y"] is None or screen["first_visible_list_y"] > screen["summary_bottom"]
    assert [row.split("n=")[0] for row in seen["summary_rows"]][:1] == ["evil"]
    assert len(seen["summary_rows"]) == 3 and any(row.startswith("power_sum") for row in seen["summary_rows"])
    # one round (the API default) decides nothing, whatever the timings: every size says so
    assert seen["findings"][0].startswith("Of ") and "sizes, 0 have a single fastest series" in seen["findings"][0]
    power_sum = [item for item in seen["findings"] if item.startswith("power_sum: at the smallest size")]
    assert len(power_sum) == 1 and power_sum[0].count("but one round cannot decide it") == 2, power_sum
    assert "evil<script>alert(1)</script>" in seen["title_text"]  # shown as text, not run
    assert (tmp_path / "report.png").stat().st_size > 10_000


def test_markdown_report_escapes_spec_strings(report_dir):
    markdown = (report_dir / "report.md").read_text()
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown
    assert "## Leaderboard" in markdown


def test_markdown_report_opens_with_the_summary_tables(report_dir):
    lines = (report_dir / "report.md").read_text().splitlines()
    assert lines[:3] == ["# fwbench report", "", "## Summary"]
    table = [line for line in lines[:lines.index("## Findings")] if line.startswith("| ")]
    assert table[0].startswith("| workload | size | fastest at that size")
    assert sum(line.startswith("| power_sum | n=128 |") for line in table) == 1  # at its largest size
    assert "## By framework and mode, across the suite" in lines[:lines.index("## Findings")]
    assert any(line.startswith("| jax/jit | ") for line in table)


def test_github_action_benchmark_json(report_dir, tmp_path):
    import json

    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["report", str(report_dir), "--github-action-benchmark", str(out)])
    assert result.exit_code == 0, result.output
    entries = json.loads(out.read_text())
    assert entries and {"name", "unit", "value", "range", "extra"} <= set(entries[0])
    assert all(entry["unit"] == "s" and entry["value"] > 0 for entry in entries)


def test_report_json_holds_the_conclusions(report_dir, tmp_path):
    import json

    out = tmp_path / "conclusions.json"
    result = CliRunner().invoke(app, ["report", str(report_dir), "--json", str(out)])
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert document["version"] == 4 and document["baseline"] == "numpy/eager"
    assert document["findings"] and document["claims"] == []
    entry = next(item for item in document["leaderboard"] if item["workload"] == "power_sum")
    assert {"params", "device", "dtype", "verdict", "winners", "ratios_to_fastest", "looks", "level"} <= set(entry)
    assert entry["looks"] == 0 and entry["level"] == 0.95  # the API's default run does not look twice
    assert (entry["device"], entry["dtype"]) == ("cpu", "float32")
    assert entry["winners"] == []  # one round (the API default) decides no winner
    assert all(item["low"] is None and "one round" in item["method"] for item in entry["ratios_to_fastest"])
    assert any(item["series"] == "jax/jit" for item in document["speedups"])


def test_conclusions_name_winners_from_rounds():
    from fwbench.records.results import records_to_frame
    from fwbench.report.findings import conclusions
    from fwbench.report.render import build_report

    def cell(framework, mode, medians):
        return {"workload": "w", "kind": "expression", "params": {"n": 8}, "framework": framework, "mode": mode,
                "device": "cpu", "dtype": "float32", "status": "ok", "median_s": sorted(medians)[1],
                "round_medians_s": medians, "round_numbers": [1, 2, 3], "run_id": "r", "cell_id": framework + mode,
                "first_call_s": 1.0, "n_samples": 30, "converged": True, "max_rel_err": 0.0}

    frame = records_to_frame([cell("numpy", "eager", [2.0, 2.1, 1.95]), cell("jax", "jit", [1.0, 1.02, 0.98])])
    document = conclusions(build_report(frame, [{"run_id": "r"}]))
    (entry,) = document["leaderboard"]
    assert (entry["verdict"], entry["winners"]) == ("fastest", ["jax/jit"])
    (runner_up,) = entry["ratios_to_fastest"]
    assert runner_up["series"] == "numpy/eager" and 1 < runner_up["low"] < runner_up["ratio"] < runner_up["high"]
    (speedup,) = [item for item in document["speedups"] if item["series"] == "jax/jit"]
    assert speedup["low"] > 1.8 and speedup["method"] == "paired over 3 rounds"
    assert "jax/jit is fastest" in " ".join(document["findings"])
