"""The audit as PDF: the self-contained HTML report printed by headless Chromium.

Chromium is found as ``DESKMOVE_CHROMIUM``, else ``chromium`` (Debian), ``chromium-browser``
or ``google-chrome`` on PATH. It runs with a throwaway profile, no network services and
a time limit; the page itself has no scripts and fetches nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from deskmove.errors import DeskmoveError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
TIMEOUT = 120.0


def find_chromium() -> str:
    configured = os.environ.get("DESKMOVE_CHROMIUM")
    if configured:
        if shutil.which(configured):
            return str(shutil.which(configured))
        raise DeskmoveError(
            f"DESKMOVE_CHROMIUM={configured} is not a program that can run",
            "point it at Chromium or Chrome, or unset it",
        )
    for name in NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise DeskmoveError(
        "a PDF is printed by Chromium, which is not installed",
        "install it (apt-get install chromium), or write --out audit.html and print that",
    )


def html_to_pdf(html: str, out: Path, *, timeout: float = TIMEOUT) -> None:
    """Print ``html`` to ``out`` (written atomically: a failed print leaves no file)."""
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="deskmove-pdf-") as tmp:
        page = Path(tmp) / "audit.html"
        page.write_text(html, encoding="utf-8")
        pdf = Path(tmp) / "audit.pdf"
        argv = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            f"--user-data-dir={Path(tmp) / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ]
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise DeskmoveError(
                f"Chromium did not finish printing the PDF within {timeout:.0f} s",
                "run again, or write --out audit.html and print that",
            ) from None
        except OSError as exc:
            raise DeskmoveError(
                f"cannot run {chromium}: {exc.strerror}", "check the Chromium install"
            ) from None
        if proc.returncode != 0 or not pdf.is_file() or pdf.read_bytes()[:5] != b"%PDF-":
            last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[
                -1
            ]
            raise DeskmoveError(
                f"Chromium could not print the PDF (exit {proc.returncode}: {last[:200]})",
                "write --out audit.html and print that",
            )
        try:
            tmp_out = out.with_name(f".{out.name}.tmp")
            shutil.copyfile(pdf, tmp_out)
            os.replace(tmp_out, out)
        except OSError as exc:
            raise DeskmoveError(
                f"cannot write {out}: {exc.strerror}", "choose another --out path"
            ) from None
