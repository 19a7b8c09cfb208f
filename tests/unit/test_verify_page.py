"""``/verify`` is one file: the verifier's modules inside it, none loaded from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.http import verify_page
from server.http.verify_page import MODULES, STATIC_DIR, PageError, page


def test_the_page_carries_every_module_and_loads_nothing_from_outside() -> None:
    text = page()
    for name in MODULES:
        assert (STATIC_DIR / name).read_text() in text, name
        assert f'data-module="{name}"' in text
    # No script, stylesheet or image comes from a URL: a saved copy has everything.
    assert not re.search(r"<script[^>]*\bsrc=", text)
    assert not re.search(r"<link[^>]*rel=\"stylesheet\"", text)
    # Every relative import names a module that the page carries (the loader rewrites them).
    imported = set(re.findall(r'from "\./([\w.-]+\.js)"', text))
    assert imported and imported <= set(MODULES)


def test_a_module_that_would_end_its_script_element_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("verify.html", *MODULES):
        (tmp_path / name).write_text((STATIC_DIR / name).read_text())
    (tmp_path / "record.js").write_text('const s = "</script>";\n')
    monkeypatch.setattr(verify_page, "STATIC_DIR", tmp_path)
    page.cache_clear()
    try:
        with pytest.raises(PageError, match="record.js"):
            page()
    finally:
        page.cache_clear()
