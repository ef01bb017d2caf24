"""Accessibility and legibility of a page in the state a test drove it to.

:func:`audit` is called by the browser tests on every page and state the stations show:

- **axe-core** (npm, WCAG 2.0–2.2 A/AA and best practices) through its Playwright integration,
  ``@axe-core/playwright``, run by ``tests/e2e/axe_run.mjs`` on the very page the Python test
  drove (over the DevTools port the ``browser`` fixture opens on loopback). A serious or
  critical violation fails the test, with what and where;
- **a screenshot** of the viewport, ``var/a11y/<name>.png``, and the figures beside it,
  ``var/a11y/<name>.json`` (kept as the test output: CI keeps ``var/``);
- **the smallest text and the smallest target** on the page, measured in the browser: every
  visible text node's computed font size; every visible control's box (links inside a sentence
  are exempt, as WCAG 2.5.8 allows; a checkbox or radio counts by its label when the label is
  the larger target). ``min_text``/``min_target`` are asserted; ``primary`` (a CSS selector) names
  the page's main actions, held to ``min_primary`` (44 px, the size for a finger on a kiosk).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "a11y"
RUNNER = Path(__file__).with_name("axe_run.mjs")
SERIOUS = ("serious", "critical")

# Set by the ``browser`` fixture (tests/e2e/conftest.py): the DevTools port of the test Chromium.
CDP_PORT: int | None = None

_MEASURE = """
() => {
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) return false;
    const s = getComputedStyle(el);
    return s.visibility !== 'hidden' && s.display !== 'none' && parseFloat(s.opacity) > 0;
  };
  const describe = (el) => {
    const cls = (el.className && typeof el.className === 'string')
      ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim();
    return el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + cls + ' "' +
      text.slice(0, 40) + '"';
  };
  let minText = null;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const skip = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'OPTION']);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.nodeValue.trim()) continue;
    const el = n.parentElement;
    if (!el || skip.has(el.tagName) || el.closest('[hidden],[aria-hidden="true"] svg')) continue;
    if (!visible(el)) continue;
    const range = document.createRange();
    range.selectNodeContents(n);
    const box = range.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;
    const size = parseFloat(getComputedStyle(el).fontSize);
    if (minText === null || size < minText.px) minText = {px: size, where: describe(el)};
  }
  const controls = document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, summary, ' +
    '[role=button], [role=link], [role=tab], [role=checkbox], [role=radio], [role=switch], ' +
    '[tabindex]:not([tabindex="-1"])');
  let minTarget = null;
  const targets = [];
  for (const el of controls) {
    if (!visible(el)) continue;
    let box = el.getBoundingClientRect();
    if (el.tagName === 'A' && getComputedStyle(el).display === 'inline') {
      const block = el.parentElement;
      const own = (el.innerText || '').trim().length;
      if (block && (block.innerText || '').trim().length > own + 3) continue;  // in a sentence
    }
    if (el.tagName === 'INPUT' && (el.type === 'checkbox' || el.type === 'radio')) {
      const label = el.closest('label') || (el.id && document.querySelector(
        'label[for="' + el.id + '"]'));
      if (label) {
        const lb = label.getBoundingClientRect();
        if (lb.width * lb.height > box.width * box.height) box = lb;
      }
    }
    const side = Math.min(box.width, box.height);
    targets.push({el, side});
    if (minTarget === null || side < minTarget.px) {
      minTarget = {px: Math.round(side * 10) / 10, where: describe(el),
                   box: [Math.round(box.width), Math.round(box.height)]};
    }
  }
  return {minText, minTarget,
          scrollHeight: document.documentElement.scrollHeight,
          viewport: [innerWidth, innerHeight],
          lang: document.documentElement.lang};
}
"""

_PRIMARY = """
(selector) => Array.from(document.querySelectorAll(selector)).filter((el) => {
  const r = el.getBoundingClientRect();
  return r.width > 1 && r.height > 1 && getComputedStyle(el).visibility !== 'hidden';
}).map((el) => {
  const r = el.getBoundingClientRect();
  return {side: Math.min(r.width, r.height),
          where: el.tagName.toLowerCase() + ' "' + (el.innerText || '').trim().slice(0, 40) + '"'};
})
"""


def axe(page: Any) -> list[dict[str, Any]]:
    """Every axe violation on ``page`` as it is now (all impacts)."""
    if CDP_PORT is None:
        raise RuntimeError("the browser fixture did not open a DevTools port")
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is missing: axe-core runs through its Playwright integration")
    marker = f"axe-{uuid.uuid4().hex}"
    previous = page.evaluate("() => window.name")
    page.evaluate("(m) => { window.name = m; }", marker)
    try:
        proc = subprocess.run([node, str(RUNNER), str(CDP_PORT), marker], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    finally:
        page.evaluate("(m) => { window.name = m; }", previous)
    try:
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError) as exc:
        raise RuntimeError(f"axe runner failed: {proc.stderr[-2000:]}") from exc
    if "error" in result:
        raise RuntimeError(result["error"])
    return result["violations"]


def measure(page: Any) -> dict[str, Any]:
    """The smallest visible text and control on ``page``, the page's height and viewport."""
    return page.evaluate(_MEASURE)


def audit(page: Any, name: str, *, min_text: float = 14, min_target: float = 24,
          primary: str | None = None, min_primary: float = 44,
          fits: bool = False) -> dict[str, Any]:
    """Screenshot ``page`` to ``var/a11y/<name>.png``, measure it, run axe, write the figures to
    ``var/a11y/<name>.json`` and assert: no serious or critical axe violation; text ≥
    ``min_text`` px; controls ≥ ``min_target`` px on their shorter side; the controls matched
    by ``primary`` ≥ ``min_primary``; with ``fits``, nothing below the fold (no vertical
    scrolling)."""
    OUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / f"{name}.png"))
    figures = measure(page)
    violations = axe(page)
    prim = page.evaluate(_PRIMARY, primary) if primary else []
    figures.update(name=name, url=page.url, violations=violations, primary=prim)
    (OUT / f"{name}.json").write_text(json.dumps(figures, ensure_ascii=False, indent=1),
                                      encoding="utf-8")
    serious = [v for v in violations if v["impact"] in SERIOUS]
    problems = [f"axe {v['impact']} {v['id']}: {v['help']} at "
                f"{[n['target'] for n in v['nodes']][:5]}" for v in serious]
    if figures["minText"] and figures["minText"]["px"] < min_text:
        problems.append(f"text {figures['minText']['px']} px < {min_text}: "
                        f"{figures['minText']['where']}")
    if figures["minTarget"] and figures["minTarget"]["px"] < min_target:
        problems.append(f"target {figures['minTarget']['px']} px < {min_target}: "
                        f"{figures['minTarget']['where']} {figures['minTarget']['box']}")
    for p in prim:
        if p["side"] < min_primary:
            problems.append(f"primary action {p['side']:.0f} px < {min_primary}: {p['where']}")
    if fits and figures["scrollHeight"] > figures["viewport"][1] + 1:
        problems.append(f"page is {figures['scrollHeight']} px tall in a "
                        f"{figures['viewport'][1]} px viewport")
    assert not problems, f"{name}: " + "; ".join(problems)
    return figures
