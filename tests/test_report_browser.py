"""report.html renders in headless Chromium: every image loads, the console shows no error.

Needs /usr/bin/chromium (Debian's ``chromium`` package; .ci/run installs it when missing). The
check is shown to fail on a page with a broken image and a console error, so a pass means something.
"""

from __future__ import annotations

import base64
import io

import pytest
from chromium_page import available, check_page

pytestmark = pytest.mark.skipif(not available(), reason="needs /usr/bin/chromium (apt-get install chromium; "
                                ".ci/run installs it)")


def test_report_renders_in_chromium(report_dir):
    page = check_page(report_dir / "report.html")
    assert page.console_errors == []
    assert len(page.images) >= 5, page.images  # equity, exposure, >= 1 price path, PnL by event, calibration
    assert page.broken_images == []
    assert page.title.startswith("strategies.longshot:LongshotFade")


def _png() -> str:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1, 1))
    fig.add_subplot().plot([0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode()


def test_check_catches_a_broken_image_and_a_console_error(tmp_path):
    good = tmp_path / "good.html"
    good.write_text(f"<!DOCTYPE html><title>t</title><link rel='icon' href='data:,'>"
                    f"<img alt='ok' src='data:image/png;base64,{_png()}'>")
    ok = check_page(good)
    assert ok.broken_images == [] and ok.console_errors == [] and len(ok.images) == 1
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><title>t</title><link rel='icon' href='data:,'>"
                   f"<img alt='ok' src='data:image/png;base64,{_png()}'>"
                   "<img alt='truncated' src='data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA'>"
                   "<img alt='missing' src='nowhere.png'>"
                   "<script>console.error('boom')</script>")
    page = check_page(bad)
    assert sorted(i["alt"] for i in page.broken_images) == ["missing", "truncated"]
    assert any("boom" in e for e in page.console_errors), page.console_errors
    assert any("nowhere.png" in e for e in page.console_errors), page.console_errors  # the failed load
