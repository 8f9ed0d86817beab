"""The step-through page in a real browser: headless Chromium driven by Selenium.

Needs Debian's ``chromium`` and ``chromium-driver`` (``/usr/bin/chromium``, ``/usr/bin/chromedriver``)
and the ``selenium`` package (the ``test`` extra); .ci/run installs the browser, so CI runs these.
Elsewhere they skip, saying what is missing (with ``AUTOGRAD_NP_REQUIRE_BROWSER=1``, as
.ci/run sets, they fail instead). Selenium is pointed at the system driver, so it
downloads nothing.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

import autograd_np as ag
import viz
from autograd_np.graph import observe_backward
from test_step_through import names_loss

CHROMIUM = os.environ.get("AUTOGRAD_NP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("AUTOGRAD_NP_CHROMEDRIVER") or shutil.which("chromedriver") or "/usr/bin/chromedriver"

REQUIRED = os.environ.get("AUTOGRAD_NP_REQUIRE_BROWSER") == "1"  # set by .ci/run: CI never skips these


def unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"AUTOGRAD_NP_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    from selenium import webdriver
except ImportError:
    unavailable("the browser tests need selenium (pip install -e '.[test]')")
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    unavailable(f"no browser: the step-through page tests need {CHROMIUM} and {CHROMEDRIVER} "
                "(apt-get install chromium chromium-driver)")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,900", "--disable-extensions", "--no-first-run"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def open_page(browser, path: Path) -> None:
    browser.get(path.resolve().as_uri())
    browser.get_log("browser")  # start each page with an empty log


def caption(browser) -> str:
    return browser.find_element(By.ID, "caption").text


def press(browser, key: str) -> None:
    browser.find_element(By.TAG_NAME, "body").send_keys(key)


def errors(browser) -> list:
    return [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]


@pytest.mark.parametrize("arch, overrides", [(None, {}), ("transformer", {"n_layer": 1})], ids=["mlp", "transformer"])
def test_arrow_keys_step_through_the_engines_order_with_its_numbers(browser, tmp_path, arch, overrides):
    run, loss = names_loss(arch, **overrides)
    path = viz.step_through(loss, tmp_path / "page.html", params=run.model)
    order = ag.topological_order(loss)
    position = {id(t): i for i, t in enumerate(order)}
    steps = []
    with observe_backward(steps.append):
        ag.grad(loss, [t for t in order if t.requires_grad], retain_graph=True)
    norms = [float(np.linalg.norm(np.asarray(s.grad, dtype=np.float64))) for s in steps]
    grads = ag.grad(loss, [s.tensor for s in steps], retain_graph=True)

    open_page(browser, path)
    assert caption(browser).startswith("Forward pass")
    for k, (step, norm, g) in enumerate(zip(steps, norms, grads), start=1):
        press(browser, Keys.ARROW_RIGHT)
        text = caption(browser)
        assert text.startswith(f"Step {k}:") and f", node {position[id(step.tensor)]};" in text, text
        shown = float(re.search(r"\|G\| = ([-+0-9.e]+)", text).group(1))
        assert shown == pytest.approx(norm, rel=5e-4, abs=1e-12)  # the engine's, to the 4 digits shown
        assert shown == pytest.approx(float(np.linalg.norm(np.asarray(g.data, dtype=np.float64))), rel=5e-4, abs=1e-12)
        panel = browser.find_element(By.ID, "panel").text
        assert f"|G| = {re.search(r'[|]G[|] = ([-+0-9.e]+)', text).group(1)}" in panel
    press(browser, Keys.ARROW_RIGHT)  # past the end: stays on the last frame
    assert caption(browser).startswith(f"Step {len(steps)}:")
    press(browser, Keys.ARROW_LEFT)
    assert caption(browser).startswith(f"Step {len(steps) - 1}:")
    press(browser, Keys.HOME)
    assert caption(browser).startswith("Forward pass")
    assert errors(browser) == []


def test_buttons_slider_play_and_a_screenshot_that_is_not_blank(browser, tmp_path):
    run, loss = names_loss(None, batch=32)
    path = viz.step_through(loss, tmp_path / "mlp.html", params=run.model)
    assert path.stat().st_size < 2_000_000
    open_page(browser, path)
    browser.find_element(By.ID, "next").click()
    browser.find_element(By.ID, "next").click()
    assert caption(browser).startswith("Step 2:")
    browser.find_element(By.ID, "prev").click()
    assert caption(browser).startswith("Step 1:")
    browser.execute_script("const s = document.getElementById('slider'); s.value = 5; s.dispatchEvent(new Event('input'));")
    assert caption(browser).startswith("Step 5:")
    play = browser.find_element(By.ID, "play")
    play.click()
    assert play.text == "pause"
    play.click()
    assert play.text == "play"
    browser.find_element(By.ID, "last").click()
    assert "grad = G" in caption(browser)  # the walk ends at a leaf
    # nothing was fetched: the page is its own only resource
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    browser.execute_script("const s = document.getElementById('slider'); s.value = 4; s.dispatchEvent(new Event('input'));")
    shot = tmp_path / "shot.png"
    browser.save_screenshot(str(shot))
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))[..., :3]
    colours = np.unique((pixels.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert pixels.std() > 0.05 and len(colours) > 50, "the screenshot is blank"
    assert errors(browser) == []


def test_gru_modules_start_collapsed_and_open_on_click(browser, tmp_path):
    run, loss = names_loss("gru")
    path = viz.step_through(loss, tmp_path / "gru.html", params=run.model)
    open_page(browser, path)
    boxes = browser.find_elements(By.CSS_SELECTOR, "#graph-svg g.unit")
    groups = browser.find_elements(By.CSS_SELECTOR, "#graph-svg g.unit.group")
    assert len(groups) > 5 and len(boxes) < 60
    svg = browser.find_element(By.ID, "graph-svg")
    assert svg.size["height"] <= 1080 and svg.size["width"] <= 1400  # one screen
    ops_before = browser.execute_script(
        "return Array.from(document.querySelectorAll('#graph-svg g.unit.op text')).map(t => t.textContent)")
    assert "sigmoid" not in ops_before
    cell = next(g for g in groups if g.text.startswith("cell (GRUCell)"))
    cell.find_element(By.TAG_NAME, "rect").click()
    ops_after = browser.execute_script(
        "return Array.from(document.querySelectorAll('#graph-svg g.unit.op text')).map(t => t.textContent)")
    assert "sigmoid" in ops_after and "tanh" in ops_after
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph-svg g.unit")) > len(boxes)
    for _ in range(30):  # stepping through a collapsed module highlights its box
        press(browser, Keys.ARROW_RIGHT)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#graph-svg g.unit.current")) == 1
    assert errors(browser) == []
