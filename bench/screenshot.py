"""Open a report in headless Chromium, check that its first screen holds the findings, and save that screen.

    python bench/screenshot.py results/sample/report.html results/sample/report.png [--width 1300 --height 900]

Prints the findings the first screen shows and exits 1 if the findings section is not on it.  Needs
Debian's chromium and playwright (both installed by ``make test``).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path)
    parser.add_argument("png", type=Path)
    parser.add_argument("--width", type=int, default=1300)
    parser.add_argument("--height", type=int, default=900)
    arguments = parser.parse_args()
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": arguments.width, "height": arguments.height})
        page.goto(arguments.html.resolve().as_uri())
        findings = page.locator("section.findings")
        box = findings.bounding_box()
        visible = [item for item in findings.locator("li").all()
                   if (item.bounding_box() or {"y": 1e9})["y"] < arguments.height]
        page.screenshot(path=str(arguments.png), full_page=False)
        texts = [item.inner_text() for item in visible]
        browser.close()
    on_first_screen = box is not None and box["y"] < arguments.height / 3
    print(f"findings section at y={box['y'] if box else None:.0f} px of a {arguments.height} px screen; "
          f"{len(texts)} findings visible on it:")
    for text in texts:
        print(f"  - {text}")
    return 0 if on_first_screen and texts else 1


if __name__ == "__main__":
    sys.exit(main())
