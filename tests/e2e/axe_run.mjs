// Runs axe-core through its Playwright integration (@axe-core/playwright) on a page that the
// Python end-to-end tests already drove into the state to check. Chromium is the tests' own,
// reached over the DevTools protocol (the browser fixture opens a debugging port on loopback);
// the page is the one whose window.name is the marker given as the second argument.
//   node tests/e2e/axe_run.mjs <cdp-port> <marker>
// Prints one JSON object: {"violations": [{id, impact, help, nodes: [{target, html, summary}]}]}
import { chromium } from 'playwright-core';
import axePlaywright from '@axe-core/playwright';

const AxeBuilder = axePlaywright.default || axePlaywright.AxeBuilder || axePlaywright;
const [port, marker] = process.argv.slice(2);
const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
let found = null;
for (const context of browser.contexts()) {
  for (const page of context.pages()) {
    let name = null;
    try { name = await page.evaluate(() => window.name); } catch (e) { name = null; }
    if (name === marker) { found = page; }
  }
}
if (!found) {
  console.log(JSON.stringify({ error: `no page with window.name ${marker}` }));
  process.exit(2);
}
const results = await new AxeBuilder({ page: found })
  .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'])
  .analyze();
const violations = results.violations.map((v) => ({
  id: v.id,
  impact: v.impact,
  help: v.help,
  nodes: v.nodes.slice(0, 10).map((n) => ({ target: n.target, html: n.html.slice(0, 200),
                                             summary: n.failureSummary })),
}));
console.log(JSON.stringify({ violations }));
process.exit(0);
