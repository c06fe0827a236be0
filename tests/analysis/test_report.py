"""The HTML report is self-contained and renders, figures included, in headless Chromium."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from seed_data import STREAMING, WITHOUT_STREAMING

from analysis.pipeline import report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    return report([WITHOUT_STREAMING, STREAMING], tmp_path_factory.mktemp("report"))


def test_only_data_uris(page: Path) -> None:
    html = page.read_text()
    parser = _Refs()
    parser.feed(html)
    assert parser.refs and all(ref.startswith("data:image/png;base64,") for ref in parser.refs)
    assert "http://" not in html and "https://" not in html
    for ref in parser.refs:
        assert base64.b64decode(ref.split(",", 1)[1])[:4] == b"\x89PNG"


def test_tables_and_comparison_present(page: Path) -> None:
    html = page.read_text()
    assert "Shared metrics" in html and "image_streaming" in html
    assert html.count("<figure") == 5


def _render(path: Path, profile: Path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}",
           "--virtual-time-budget=5000", "--dump-dom", path.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True).stdout


def test_renders_in_headless_chromium(page: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    dom = _render(page, tmp_path / "profile")
    assert 'data-figures="5"' in dom and 'data-figures-ok="yes"' in dom
    assert "ensemble-amg2023:spack-skylake" in dom


def test_broken_figure_is_detected(page: Path, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    broken = tmp_path / "broken.html"
    broken.write_text(re.sub(r"base64,[A-Za-z0-9+/=]{40}", "base64,AAAA", page.read_text(), count=1))
    dom = _render(broken, tmp_path / "profile")
    assert 'data-figures-ok="no"' in dom
