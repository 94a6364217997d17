"""Headless chromium (Debian's, driven by playwright) showing a page from ``file://``: screenshots and tests."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import Any, Iterator

from benchmark.core.errors import BenchmarkError
from benchmark.core.files import atomic_path
from benchmark.leaderboard._artifacts import page_path
from benchmark.leaderboard._site import readable

CHROMIUM = "/usr/bin/chromium"  # Debian's package; playwright drives it, never a browser of its own
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def chromium_page(html_path: str | Path, width: int = 1280, height: int = 720,
                  executable: str = CHROMIUM) -> Iterator[Any]:
    """A playwright page (headless Debian chromium, fresh profile) showing ``html_path`` from file://."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BenchmarkError("opening the page needs the playwright package: pip install -e '.[test]'") from None
    if not Path(executable).is_file():
        raise BenchmarkError("chromium not found; install Debian's: apt-get install -y chromium", executable)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(profile, executable_path=executable, headless=True,
                                                   args=CHROMIUM_ARGS, viewport={"width": width, "height": height})
        try:
            page = ctx.new_page()
            page.goto(Path(html_path).resolve().as_uri())
            yield page
        finally:
            ctx.close()


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1280, height: int = 720,
               full_page: bool = False) -> Path:
    """Save a PNG of the page as headless chromium renders it (for the README, or a test)."""
    with chromium_page(html_path, width, height) as page, atomic_path(png_path, suffix=".png") as tmp:
        page.screenshot(path=str(tmp), full_page=full_page)
    readable([Path(png_path)])
    return Path(png_path)



def page_screenshots(site: str | Path, submission: str, out_dir: str | Path, width: int = 1280,
                     height: int = 1500) -> list[Path]:
    """``leaderboard_page.png`` (the main page, whole, with the trade-off plot) and ``submission_page.png``
    (the first ``height`` pixels of ``submission``'s page) of the built ``site``, as headless chromium shows
    them at ``width``."""
    site, out_dir = Path(site), Path(out_dir)
    main = screenshot(site / "index.html", out_dir / "leaderboard_page.png", width, 720, full_page=True)
    page = site / page_path({"submission": submission})
    if not page.is_file():
        raise BenchmarkError(f"no page for submission '{submission}' in this leaderboard", page)
    return [main, screenshot(page, out_dir / "submission_page.png", width, height)]
