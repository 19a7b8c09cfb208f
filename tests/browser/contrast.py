"""WCAG 2.x contrast of a page's visible text, measured in the browser from computed styles.

:func:`low_contrast` runs :data:`CONTRAST_JS` in a page: for every visible element that
shows text (a text node of its own, or a form control's value), it takes the computed
``color`` and the effective background — the element's own ``background-color``, or the
first ancestor's that is not transparent, with translucent layers blended over what lies
under them, down to white — and computes the contrast ratio of WCAG 2.x (relative
luminance of sRGB). Text needs 4.5:1, large text (24 px, or 18.66 px and bold) 3:1.
Disabled controls are exempt (WCAG 1.4.3), and so is text hidden from sight (``.sr-only``
clips it to 1 px).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

CONTRAST_JS = r"""
() => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, under) => {  // top blended over an opaque colour
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + under[i] * (1 - a)).concat(1);
  };
  const background = (el) => {
    const layers = [];
    for (let e = el; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let bg = [255, 255, 255, 1];
    for (const c of layers.reverse()) bg = over(c, bg);
    return bg;
  };
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [hi, lo] = [lum(a), lum(b)].sort((x, y) => y - x);
    return (hi + 0.05) / (lo + 0.05);
  };
  const shown = (el) => {
    if (el.closest("[hidden], .sr-only")) return false;
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) return false;
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.display === "none" || s.visibility === "hidden" || Number(s.opacity) === 0) return false;
    }
    return true;
  };
  const hasText = (el) =>
    ["SELECT", "INPUT", "TEXTAREA"].includes(el.tagName) ||
    [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  const out = [];
  const all = [];
  let checked = 0;
  for (const el of document.querySelectorAll("body *")) {
    if (["SCRIPT", "STYLE", "OPTION", "NOSCRIPT"].includes(el.tagName)) continue;
    if (el.tagName === "INPUT" && ["checkbox", "radio", "hidden"].includes(el.type)) continue;
    if (!hasText(el) || !shown(el)) continue;
    if (el.closest(":disabled")) continue;  // inactive controls are exempt
    const s = getComputedStyle(el);
    const bg = background(el);
    const fg = over(parse(s.color), bg);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    const need = large ? 3 : 4.5;
    const got = ratio(fg, bg);
    checked += 1;
    const text = (el.value || el.textContent || "").trim().slice(0, 40);
    const id = el.id ? `#${el.id}` : "";
    const cls = typeof el.className === "string" && el.className ? `.${el.className.trim().split(/\s+/).join(".")}` : "";
    const row = { element: `${el.tagName.toLowerCase()}${id}${cls}`, text, ratio: Math.round(got * 100) / 100, need, color: s.color, background: `rgb(${bg.slice(0, 3).map(Math.round).join(", ")})` };
    all.push(row);
    if (got < need) out.push(row);
  }
  all.sort((a, b) => a.ratio / a.need - b.ratio / b.need);
  return { checked, failures: out, lowest: all.slice(0, 3) };
}
"""


def low_contrast(page: Page) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
    """(how many text elements were measured, those under their minimum ratio, the three
    nearest to their minimum)."""
    result: dict[str, Any] = page.evaluate(CONTRAST_JS)
    return int(result["checked"]), list(result["failures"]), list(result["lowest"])
