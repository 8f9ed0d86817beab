"""Make docs/step_through.png: the names MLP's step-through (one batch of 32) at a middle frame.

    python scripts/step_through_screenshot.py [--frame 4] [--out docs/step_through.png]

Needs headless Chromium and chromedriver (Debian: apt-get install chromium chromium-driver) and
selenium; Pillow, if present, shrinks the PNG to a 256-colour palette.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frame", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "step_through.png")
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "mlp.html"
        subprocess.run([sys.executable, "-m", "models.names", "graph", "--config", "default", "--batch-size", "32",
                        "--step-through", "--out", str(page)], check=True, cwd=ROOT)
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,860", "--hide-scrollbars"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(page.as_uri())
            driver.execute_script("const s = document.getElementById('slider'); s.value = arguments[0];"
                                  "s.dispatchEvent(new Event('input'));", args.frame)
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    try:
        from PIL import Image
    except ImportError:
        return 0
    Image.open(args.out).convert("RGB").quantize(colors=256).save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
