"""``GET /verify``: the bundle verifier page as one self-contained HTML file.

``static/verify.html`` loads ``verifier.js`` as an ES module, which a browser
refuses to do from ``file://``. Served here, the page carries the modules it
needs (``chain.js``, ``record.js``, ``rows.js``, ``bundle.js``, ``verifier.js``: the same files the app
uses, so there is one implementation) as inert text, and a few lines of
script turn them into modules through ``blob:`` URLs, rewriting each
``from "./x.js"`` to the blob of ``x.js``. Saved to disk, the page verifies
bundles with no server and no network (docs/browser.md).
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse

STATIC_DIR = Path(__file__).parent.parent / "static"
MODULES = (
    "chain.js",
    "record.js",
    "rows.js",
    "bundle.js",
    "verifier.js",
)  # each after the modules it imports
_TAG = '<script type="module" src="verifier.js"></script>'

_LOADER = """<script>
(() => {
  // Each inline module becomes a blob: URL, its imports pointed at the blobs of
  // the modules before it; then the page's own module is imported.
  const urls = {};
  for (const node of document.querySelectorAll('script[type="text/x-courtroom-module"]')) {
    const source = node.textContent.replace(/from "\\.\\/([\\w.-]+\\.js)"/g, (m, name) => `from "${urls[name]}"`);
    urls[node.dataset.module] = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  }
  import(urls["verifier.js"]).catch((err) => {
    document.querySelector("main").prepend(Object.assign(document.createElement("p"), { textContent: `The verifier did not start: ${err}` }));
  });
})();
</script>"""


class PageError(RuntimeError):
    """A module that cannot sit inside a ``<script>`` element as it is."""


@functools.cache
def page() -> str:
    """The page with its modules inside (built once per process: the files ship with it)."""
    template = (STATIC_DIR / "verify.html").read_text()
    if _TAG not in template:
        raise PageError(f"verify.html has no {_TAG}")
    parts = []
    for name in MODULES:
        source = (STATIC_DIR / name).read_text()
        if "</script" in source.lower() or "<!--" in source:  # would end or escape the element
            raise PageError(f"{name} contains '</script' or '<!--'")
        parts.append(
            f'<script type="text/x-courtroom-module" data-module="{html.escape(name)}">\n'
            f"{source}</script>"
        )
    return template.replace(_TAG, "\n".join([*parts, _LOADER]))


async def verify_page(request: Request) -> HTMLResponse:
    # No CSP here on purpose: the page runs inline script and blob: modules.
    return HTMLResponse(page(), headers={"Cache-Control": "no-cache"})
