"""The HTML report: self-contained, escaped, and rendered by a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from deskmove.audit import render, run_audit
from deskmove.records import Batch, MessageRec, PersonRef, TicketRec
from tests.conftest import unavailable
from tests.test_audit_data import PLANTED, at, fill

CHROMIUM = "/usr/bin/chromium"


def html_report(project, store) -> str:
    fill(store)
    return render(run_audit(project, store, now=at(12, 12)), "html")


def test_html_is_self_contained(project, store):
    page = html_report(project, store)
    assert page.startswith("<!doctype html>")
    for needle in ("<script", "<link", "<img", "<iframe", "@import", "url("):
        assert needle not in page.lower()
    assert not re.search(r"\b(?:src|href)\s*=", page, re.IGNORECASE)
    assert page.count("<svg") >= 3  # sparklines, the yearly chart, the heatmap
    for ids in PLANTED.values():
        for item_id in ids:
            assert f"<span class='id'>{item_id}</span>" in page


def test_customer_text_is_escaped(project, store):
    when = at(2, 10)
    store.ingestor("mbox:x", None).ingest(
        Batch(
            tickets=[
                TicketRec(
                    native_id="x",
                    subject="<script>alert(1)</script>",
                    channel="email",
                    messages=[
                        MessageRec(
                            native_id="x1",
                            created_at=when,
                            author=PersonRef(email="eve@example.org"),
                            subject="<img src=x onerror=alert(1)>",
                            to=["podpora@kolo-shop.cz"],
                            headers={"delivered-to": ["podpora@kolo-shop.cz"]},
                        )
                    ],
                )
            ],
            read=1,
        )
    )
    page = render(run_audit(project, store), "html")
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG (enough to tell it is not blank)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.mark.browser
def test_chromium_renders_the_report(project, store, tmp_path):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        unavailable("chromium is not installed")
    page = tmp_path / "audit.html"
    page.write_text(html_report(project, store), encoding="utf-8")
    shot = tmp_path / "audit.png"
    result = _chromium(
        "--window-size=1200,1600",
        f"--screenshot={shot}",
        page.as_uri(),
        profile=tmp_path / "profile",
    )
    if not shot.exists():
        unavailable(f"chromium did not start: {result.stderr[-300:]}")
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1200, 1600)
    assert len(set(pixels[::7])) > 40  # text, boxes and bars, not a blank page
    dom = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile2").stdout
    assert "Channel audit and migration plan" in dom
    assert "podpora@kolo-shop.cz" in dom and "Quietest cutover window" in dom
    assert dom.count("<svg") >= 3
