"""Open a report in headless Chromium, check that its first screen holds the chart and the summary table,
and save that screen.

    python bench/screenshot.py results/sample/report.html results/sample/report.png [--width 1280 --height 900]
                                [--dark]

Prints where the chart and the summary table sit and how many of the table's rows the first screen shows;
exits 1 unless the chart and the table's header and first row are on it with no list of sentences above
them.  Needs Debian's chromium and playwright (both installed by ``make test``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def first_screen(html: Path, png: Path | None, width: int, height: int, dark: bool = False) -> dict:
    """Where the chart, the summary table and the first list sit on a ``width`` x ``height`` screen."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": width, "height": height},
                                color_scheme="dark" if dark else "light")
        page.goto(html.resolve().as_uri())
        chart = page.locator("svg.panels").first.bounding_box()
        table = page.locator("table.summary")
        table_box = table.bounding_box() if table.count() else None
        rows = [row.bounding_box() for row in table.locator("tbody tr").all()] if table.count() else []
        visible_rows = sum(1 for box in rows if box and box["y"] + box["height"] <= height)
        lists = [box for box in (item.bounding_box() for item in page.locator("ul").all()) if box]
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.reload()
        if png is not None:
            page.screenshot(path=str(png), full_page=False)
        browser.close()
    return {"chart": chart, "table": table_box, "rows": len(rows), "visible_rows": visible_rows,
            "first_list_y": min((box["y"] for box in lists), default=None),
            "external_requests": [url for url in requests if not url.startswith(("file:", "data:"))]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--dark", action="store_true", help="render with the dark colour scheme")
    arguments = parser.parse_args()
    found = first_screen(arguments.html, arguments.png, arguments.width, arguments.height, arguments.dark)
    chart, table = found["chart"], found["table"]
    print(f"chart: {'y=%.0f to %.0f px' % (chart['y'], chart['y'] + chart['height']) if chart else 'absent'}; "
          f"summary table: {'from y=%.0f px' % table['y'] if table else 'absent'}, {found['visible_rows']} of "
          f"{found['rows']} rows on a {arguments.height} px screen; external requests: "
          f"{found['external_requests'] or 'none'}")
    ok = (chart is not None and chart["y"] + chart["height"] <= arguments.height and table is not None
          and found["visible_rows"] >= 1 and not found["external_requests"]
          and (found["first_list_y"] is None or found["first_list_y"] > table["y"]))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
