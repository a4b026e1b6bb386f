"""A real browser (Debian's chromium, driven headless by playwright) through a new user's path: click the 8s in
the samples gallery, run the fast preset, and check the screenshot for the result grids.

    python tests/test_browser.py --out docs/screenshots     # the README's screenshots, from this same walk
"""
import argparse
import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def eights_to_click(n: int = 5, n_samples: int = 32):
    """(samples seed, gallery index) of samples the classifier calls 8: what a user would click."""
    import app
    from atu import catalog
    from atu.metrics import classify
    from atu.models import load_generator, load_model
    from atu.sampling import generate, make_latent_bank

    m = catalog.get("mnist-dcgan")
    G, C = load_generator(m.path()), load_model(m.classifier_path("digit 8"), kind="classifier")
    out, seed = [], 0
    while len(out) < n:
        labels = classify(C, generate(G, make_latent_bank(app.N_SAMPLES, G.latent_dim, seed)))
        out += [(seed, int(i)) for i in (labels == 8).nonzero().flatten()][:n - len(out)]
        seed += 1
    return out


def crop(png: bytes, box: dict) -> np.ndarray:
    img = Image.open(io.BytesIO(png)).convert("L")
    return np.asarray(img.crop((int(box["x"]), int(box["y"]), int(box["x"] + box["width"]),
                                int(box["y"] + box["height"]))), dtype=np.float32) / 255


@contextlib.contextmanager
def app_page(url: str):
    """A headless chromium page on the app, once demo.load has filled the samples gallery."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#samples img", timeout=60_000)
            yield page
        finally:
            browser.close()


def walkthrough(url: str, out: Path, clicks) -> dict:
    """Click the given samples, run, wait for the result; saves three screenshots and returns what it saw."""
    from playwright.sync_api import expect

    out.mkdir(parents=True, exist_ok=True)
    with app_page(url) as page:
        shown_seed = 0
        for k, (seed, index) in enumerate(clicks, 1):
            while shown_seed < seed:
                page.get_by_role("button", name="new samples", exact=True).click()
                shown_seed += 1
                expect(page.locator("#samples")).to_contain_text("#0", timeout=30_000)
                page.wait_for_timeout(500)
            page.locator("#samples img").nth(index).click()
            expect(page.locator("#count")).to_contain_text(f"{k} negatives chosen", timeout=30_000)
        expect(page.locator("#chosen img")).to_have_count(len(clicks))
        page.screenshot(path=str(out / "1-negatives.png"), full_page=True)
        page.get_by_role("button", name="Run", exact=True).click()
        expect(page.locator("#status")).to_contain_text("Done in", timeout=420_000)
        page.locator("#after img").wait_for()
        page.wait_for_timeout(1000)
        page.screenshot(path=str(out / "2-result.png"), full_page=True)
        grids = page.locator("#grids")
        grids.scroll_into_view_if_needed()
        png = grids.screenshot(path=str(out / "3-result-grids.png"))
        g = grids.bounding_box()
        boxes = {k: page.locator(f"#{k} img").bounding_box() for k in ("before", "after")}
        boxes = {k: {**b, "x": b["x"] - g["x"], "y": b["y"] - g["y"]} for k, b in boxes.items()}
        status = page.locator("#status").inner_text()
    return {"status": status, **{k: crop(png, b) for k, b in boxes.items()}}


def faces_screenshot(url: str, out: Path) -> None:
    """The faces model chosen, its feature list open (README "Faces")."""
    with app_page(url) as page:
        page.get_by_label("1. base model").click()
        page.get_by_role("option", name="faces-dcgan64").click()
        page.wait_for_timeout(4000)
        page.get_by_label("feature to forget").click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "4-faces.png"), clip={"x": 0, "y": 0, "width": 1400, "height": 900})


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (the test command installs it)")
def test_browser_user_path(served, tmp_path):
    seen = walkthrough(served, tmp_path, eights_to_click())
    assert seen["status"].startswith("Done in"), seen["status"]
    assert (tmp_path / "2-result.png").stat().st_size > 50_000
    for k in ("before", "after"):
        grid = seen[k]
        assert grid.shape[0] > 200 and grid.shape[1] > 200, (k, grid.shape)
        # an 8x8 grid of MNIST-like samples: mostly black digit backgrounds, white strokes and white padding
        dark, light = (grid < 0.2).mean(), (grid > 0.8).mean()
        assert dark > 0.4 and light > 0.1, (k, dark, light)
    assert np.abs(seen["before"] - seen["after"]).mean() > 0.01   # the grids differ: the generator changed


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="docs/screenshots")
    ns = ap.parse_args()
    import app

    demo = app.build_demo()
    demo.queue().launch(prevent_thread_lock=True, server_name="127.0.0.1")
    try:
        print(walkthrough(demo.local_url, Path(ns.out), eights_to_click())["status"])
        faces_screenshot(demo.local_url, Path(ns.out))
    finally:
        demo.close()
