"""Open the generated report.html in a real headless Chromium (Debian's `chromium` + `chromium-driver`,
driven by selenium) and check that every figure decodes and every table renders. Skipped cleanly
when no Chromium binary, chromedriver or selenium is present."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and os.path.exists(p)), None)
CHROMEDRIVER = next((p for p in ("/usr/bin/chromedriver", shutil.which("chromedriver") or "")
                     if p and os.path.exists(p)), None)
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium chromium-driver)"),
    pytest.mark.skipif(CHROMEDRIVER is None, reason="no chromedriver (apt-get install chromium-driver)"),
]


def _synthetic():
    spec = importlib.util.spec_from_file_location("report_synthetic",
                                                  Path(__file__).parent / "data" / "report" / "synthetic.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    S = _synthetic()
    root = tmp_path_factory.mktemp("browser")
    skip = {"tiny-llama/multialpaca/r16-b16", ("tiny-mistral/none/base", "xquad")}  # partial: a gap or two
    return S.build_report(root, skip=skip, protocols=["megaverse"])


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--window-size=1400,1000")
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def test_report_renders_in_chromium(report, driver, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(Path(report["html"]).resolve().as_uri())
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)"))

    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.naturalWidth, i.naturalHeight, i.src.slice(0, 22)])")
    assert len(images) == len(report["pngs"]) > 0
    for alt, width, height, src in images:
        assert width > 0 and height > 0, f"figure {alt} did not decode"
        assert src.startswith("data:image/png;base64")

    tables = driver.execute_script(
        "return Array.from(document.querySelectorAll('table')).map(t => t.querySelectorAll('tbody tr').length)")
    assert len(tables) >= 4 and all(rows > 0 for rows in tables)
    text = driver.execute_script("return document.body.innerText")
    for needle in ("Table 1", "XQuAD (published)", "Missing cells", "tiny-llama/multialpaca/r16-b16", "Compute cost"):
        assert needle in text
    captions = driver.execute_script("return document.querySelectorAll('figcaption').length")
    assert captions == len(report["pngs"])
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'))")
    assert not [u for u in fetched if u.startswith(("http:", "https:"))], fetched

    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 100, 16000))
    shot = tmp_path / "report.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
