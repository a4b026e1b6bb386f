"""A real browser (Debian's chromium, driven headless by playwright) through a new user's path: click the 8s in
the samples gallery, run, check the screenshot for the result grids, switch the model and see them go; then
what goes wrong in a new user's hands: a bad upload, Stop, and a run queued behind another session's.

    python tests/test_browser.py --out docs/screenshots     # the README's screenshots: the same walk, fast preset
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


def eights_to_click(n: int = 5, sure: float = 0.9):
    """(samples seed, gallery index) of plain eights, what a user would click: samples that the app's own picker (the
    classifier with its co-classifier, as "let the classifier pick" reads them) calls 8 with p > `sure`. By the
    classifier's label alone the walk clicked a 5 and a 6 too (p(8) 0.93 and 0.76 by it, 0.44 and 0.27 by the
    co-classifier)."""
    import app
    from atu.metrics import class_probabilities
    from atu.sampling import generate, make_latent_bank

    G, C = app._generator("mnist-dcgan"), app._classifier("mnist-dcgan", "digit 8")
    out, seed = [], 0
    while len(out) < n:
        p8 = class_probabilities(C, generate(G, make_latent_bank(app.N_SAMPLES, G.latent_dim, seed)))[:, 8]
        out += [(seed, int(i)) for i in (p8 > sure).nonzero().flatten()][:n - len(out)]
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


def set_steps(page, adapt_steps: int, unlearn_steps: int) -> None:
    """Open the settings and change the steps of both stages (the tests' shorter run; the screenshots keep the
    preset)."""
    page.get_by_text("3. Settings", exact=True).click()
    for label, n in (("stage 1 steps", adapt_steps), ("stage 2 steps", unlearn_steps)):
        box = page.get_by_label(label)
        box.fill(str(n))
        box.press("Tab")
    page.wait_for_timeout(500)


def walkthrough(url: str, out: Path, clicks, steps: tuple[int, int] | None = None) -> dict:
    """Click the given samples, run, wait for the result; saves three screenshots and returns what it saw, then
    switches the model to the faces and returns what is left of the results (nothing should be)."""
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
        thumbs = [page.locator("#chosen img").nth(i).bounding_box() for i in range(len(clicks))]
        assert all(b["width"] <= 100 and b["height"] <= 100 for b in thumbs), thumbs   # fixed size, never cropped
        page.screenshot(path=str(out / "1-negatives.png"), full_page=True)
        if steps:
            set_steps(page, *steps)
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
        download = page.locator("#download").inner_text()
        choose(page, "faces-dcgan64")                 # another model: the MNIST results must not stay on screen
        page.wait_for_timeout(3000)
        for pane in ("#status", "#metrics"):          # once the switch has finished (a loaded CPU takes longer)
            expect(page.locator(pane)).not_to_contain_text("processing", timeout=60_000)
        left = {"status": page.locator("#status").inner_text(), "grids": page.locator("#grids img").count(),
                "download": page.locator("#download").is_visible(),
                "metrics": page.locator("#metrics").inner_text()}
    return {"status": status, "download": download, "left": left, **{k: crop(png, b) for k, b in boxes.items()}}


def choose(page, model: str) -> None:
    page.get_by_label("1. base model").click()
    page.get_by_role("option", name=model).click()


def faces_screenshot(url: str, out: Path) -> None:
    """The faces model chosen, its feature list open (README "Faces")."""
    with app_page(url) as page:
        choose(page, "faces-dcgan64")
        page.wait_for_timeout(4000)
        page.get_by_label("feature to forget").click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "4-faces.png"), clip={"x": 0, "y": 0, "width": 1400, "height": 900})


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (the test command installs it)")
def test_browser_user_path(served, tmp_path):
    seen = walkthrough(served, tmp_path, eights_to_click(), steps=(60, 200))
    assert seen["status"].startswith("Done in"), seen["status"]
    assert seen["left"]["status"] == "" and seen["left"]["grids"] == 0 and not seen["left"]["download"], seen["left"]
    assert "PUL" not in seen["left"]["metrics"], seen["left"]
    assert (tmp_path / "2-result.png").stat().st_size > 50_000
    for k in ("before", "after"):
        grid = seen[k]
        assert grid.shape[0] > 200 and grid.shape[1] > 200, (k, grid.shape)
        # an 8x8 grid of MNIST-like samples: mostly black digit backgrounds, white strokes and white padding
        dark, light = (grid < 0.2).mean(), (grid > 0.8).mean()
        assert dark > 0.4 and light > 0.1, (k, dark, light)
    assert np.abs(seen["before"] - seen["after"]).mean() > 0.01   # the grids differ: the generator changed


ERROR_BADGE = ".error"   # Gradio's status tracker marks an output of a failed event with this (a red "Error")


def error_badges(page) -> dict:
    return {k: page.locator(f"#{k} {ERROR_BADGE}").count()
            for k in ("samples", "chosen", "count", "upload", "status", "losses", "rates", "before", "after", "metrics")}


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (the test command installs it)")
def test_browser_bad_upload_stop_and_queue(served, tmp_path):
    """Two sessions. B uploads a text file named .png: a message, no error badge anywhere, the box emptied, the
    page still usable. A runs; B's run waits and says so with its place in line; B's Stop takes it out of the
    queue; A's Stop says "Stopped" within seconds, and A's next run starts at once."""
    from playwright.sync_api import expect, sync_playwright

    fake = tmp_path / "notes.png"
    fake.write_text("not an image at all")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            a, b = (browser.new_context().new_page() for _ in range(2))   # two contexts: two Gradio sessions
            for page in (a, b):
                page.set_viewport_size({"width": 1400, "height": 1000})
                page.goto(served)
                page.wait_for_selector("#samples img", timeout=60_000)

            b.locator("#upload input[type=file]").set_input_files(str(fake))
            expect(b.get_by_text("none of the uploaded files is a usable image").first).to_be_visible(timeout=30_000)
            b.wait_for_timeout(1000)
            assert error_badges(b) == dict.fromkeys(error_badges(b), 0), error_badges(b)
            expect(b.locator("#upload")).not_to_contain_text("notes.png")   # the rejected file left the box
            b.locator("#samples img").nth(0).click()                         # and the gallery still takes clicks
            expect(b.locator("#count")).to_contain_text("1 negatives chosen", timeout=30_000)
            b.get_by_role("button", name="Run", exact=True).click()          # too few negatives: a message only
            expect(b.locator("#status")).to_contain_text("1 negatives chosen: choose at least 4", timeout=30_000)
            b.wait_for_timeout(1000)
            assert error_badges(b) == dict.fromkeys(error_badges(b), 0), error_badges(b)

            for page in (a, b):
                page.get_by_role("button", name="let the classifier pick", exact=True).click()
                expect(page.locator("#count")).to_contain_text("negatives chosen", timeout=60_000)
                expect(page.locator("#chosen img").nth(4)).to_be_visible(timeout=60_000)
            a.get_by_role("button", name="Run", exact=True).click()
            expect(a.locator("#status")).to_contain_text("stage 1", timeout=60_000)
            b.get_by_role("button", name="Run", exact=True).click()
            expect(b.locator("#status")).to_contain_text("Waiting: 1 run from other sessions ahead of yours",
                                                         timeout=30_000)
            b.get_by_role("button", name="Stop", exact=True).click()
            expect(b.locator("#status")).to_contain_text("Stopped before it started", timeout=15_000)

            a.get_by_role("button", name="Stop", exact=True).click()
            expect(a.locator("#status")).to_contain_text("Stopped: nothing was saved", timeout=20_000)
            a.get_by_role("button", name="Run", exact=True).click()          # the slot is free again at once
            expect(a.locator("#status")).to_contain_text("stage 1", timeout=30_000)
            a.get_by_role("button", name="Stop", exact=True).click()
            expect(a.locator("#status")).to_contain_text("Stopped: nothing was saved", timeout=20_000)
            assert error_badges(a) == dict.fromkeys(error_badges(a), 0), error_badges(a)
        finally:
            browser.close()


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
