"""`pbmem report` in a real browser: headless Chromium (Debian's `chromium`, installed by
scripts/install_deps.sh) renders the report of the MobileNetV2 zoo model to a PNG, which must
have the window's size, not be blank, and show the plot's layers and peak marker in their
colours; and its DOM (--dump-dom, after parsing) must hold the SVG plot and the tables.
A missing chromium fails the test with the command to install it: nothing is skipped."""
import html.parser
import shutil
import subprocess

import numpy as np
import pytest

import models
from cli import assert_ok, run_cli

CHROMIUM_NAMES = ("chromium", "chromium-browser")
# Containers have no user namespaces for the sandbox, a small /dev/shm and no GPU.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--hide-scrollbars", "--no-first-run", "--mute-audio")
CHROMIUM_TIMEOUT_SECONDS = 180
WINDOW = (1200, 1400)  # width, height of the screenshot
# The plot's colours (html_plot.cc), as OpenCV's BGR, and how many pixels of each must show.
LAYER_COLOURS_BGR = {
    "packed weights": (0xcb, 0xa0, 0x8d),
    "live activations": (0x62, 0x8d, 0xfc),
    "peak marker": (0x28, 0x27, 0xd6),
}
MIN_PIXELS = {"packed weights": 20000, "live activations": 2000, "peak marker": 30}
COLOUR_TOLERANCE = 12
LEGEND_SWATCH_PIXELS = 20  # wider than the legend's 12-pixel swatches
WHITE = 250
MIN_GREY_STD = 20.0  # a blank or near-blank page has almost no variance


def _chromium():
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("chromium is not installed: run scripts/install_deps.sh (apt-get install -y "
                "chromium)", pytrace=False)


def _browse(tmp_path, *args):
    cmd = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                                timeout=CHROMIUM_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium hung for {CHROMIUM_TIMEOUT_SECONDS}s: {' '.join(cmd)}",
                    pytrace=False)
    assert result.returncode == 0, f"chromium failed: {' '.join(cmd)}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    model = models.get_model("mobilenet_v2")
    out = tmp_path_factory.mktemp("report") / "mobilenet_v2.html"
    assert_ok(run_cli(["report", model.path, "--batch", "1", "-o", out]))
    return out


def test_screenshot_shows_the_plot(report_page, tmp_path):
    import cv2
    png = tmp_path / "shot.png"
    _browse(tmp_path, f"--screenshot={png}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
            report_page.as_uri())
    assert png.exists(), "chromium wrote no screenshot"
    image = cv2.imread(str(png))
    assert image is not None, f"{png} is not a readable PNG"
    assert image.shape == (WINDOW[1], WINDOW[0], 3), image.shape
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert float(grey.std()) > MIN_GREY_STD, f"the page looks blank (std {grey.std():.1f})"
    assert int((grey < WHITE).sum()) > 0
    for layer, bgr in LAYER_COLOURS_BGR.items():
        close = np.all(np.abs(image.astype(int) - np.array(bgr)) <= COLOUR_TOLERANCE, axis=2)
        count = int(close.sum())
        assert count >= MIN_PIXELS[layer], f"{layer}: {count} pixels in its colour"
    # The live activations sit on top of the weights: their pixels are above the weights' top.
    weights = np.all(np.abs(image.astype(int) - np.array(LAYER_COLOURS_BGR["packed weights"]))
                     <= COLOUR_TOLERANCE, axis=2)
    live = np.all(np.abs(image.astype(int) - np.array(LAYER_COLOURS_BGR["live activations"]))
                  <= COLOUR_TOLERANCE, axis=2)
    # Rows where a colour spans more than a legend swatch's width belong to the plot.
    weights_rows = np.nonzero(weights.sum(axis=1) > LEGEND_SWATCH_PIXELS)[0]
    live_rows = np.nonzero(live.sum(axis=1) > LEGEND_SWATCH_PIXELS)[0]
    assert len(weights_rows) and len(live_rows), "the plot's layers are missing"
    assert live_rows.min() < weights_rows.min(), "the activations are not drawn above the weights"


class _DomScan(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = {}
        self.counts = {}
        self._table = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids[attrs["id"]] = tag
        if tag == "table":
            self._table = attrs.get("id")
        key = (self._table, tag) if tag == "tr" else tag
        self.counts[key] = self.counts.get(key, 0) + 1

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None


def test_dom_has_the_plot_and_tables(report_page, tmp_path):
    result = _browse(tmp_path, "--dump-dom", report_page.as_uri())
    scan = _DomScan()
    scan.feed(result.stdout)
    assert scan.ids.get("memory-plot") == "svg", scan.ids
    assert scan.ids.get("peak-marker") == "g", scan.ids
    assert scan.counts.get("polygon", 0) >= 4, "the plot lacks its stacked layers"
    assert scan.ids.get("live-at-peak") == "table"
    assert scan.ids.get("weights-by-layer") == "table"
    assert scan.counts.get(("live-at-peak", "tr"), 0) >= 2, "no live tensor rows"
    assert scan.counts.get(("weights-by-layer", "tr"), 0) >= 10, "too few weight rows"
    assert "fit" in scan.ids
