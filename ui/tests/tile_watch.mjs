// A real console in Debian's chromium (playwright-core) watching a running engine, for the fleet
// bench (bench/fleet_scale.py): opens URL (`http://127.0.0.1:PORT/?token=…`, or `/wall?token=…`),
// prints one JSON line when every one of EXPECT tiles is drawn, then one per tile that turns to an
// incident level (`{"label":…,"level":"2".."5","at":EPOCH_MS}`, the first time for each label,
// stamped inside the page by a MutationObserver), and the page's memory at the end: after SECS
// seconds or when its standard input closes.
// Usage: node tests/tile_watch.mjs URL EXPECT SECS   (CHROMIUM=/path overrides /usr/bin/chromium)
import { chromium } from 'playwright-core';

const [url, expect, secs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 60)];
if (!url || !expect) {
  console.error('usage: node tests/tile_watch.mjs URL EXPECT SECS');
  process.exit(2);
}
const out = (o) => console.log(JSON.stringify(o));
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const end = Date.now() + secs * 1000;
try {
  const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
  page.on('pageerror', (e) => out({ error: String(e) }));
  await page.goto(url);
  // Every tile drawn: measured from the navigation's start, in the page.
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid="tile"]').length >= n, expect, {
    timeout: 180_000,
    polling: 50,
  });
  const drawn = await page.evaluate(() => performance.now());
  out({ all_tiles_drawn_ms: Math.round(drawn), tiles: expect });
  await page.evaluate(() => {
    const problem = new Set(['2', '3', '4', '5']);
    const changes = [];
    window.__tileChanges = changes;
    const changed = new Set();
    const note = (t, at) => {
      const label = t.dataset?.label;
      if (!label || t.dataset.testid !== 'tile' || changed.has(label) || !problem.has(t.dataset.level)) return;
      changed.add(label);
      changes.push({ label, level: t.dataset.level, at });
    };
    // A tile changes its level in place, or is drawn anew elsewhere (the wall lists problems apart).
    new MutationObserver((records) => {
      const at = Date.now();
      for (const r of records) {
        if (r.type === 'attributes') note(r.target, at);
        for (const n of r.addedNodes) {
          if (!(n instanceof HTMLElement)) continue;
          note(n, at);
          for (const t of n.querySelectorAll('[data-testid="tile"]')) note(t, at);
        }
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-level'] });
  });
  let sent = 0;
  let stdinOpen = true;
  process.stdin.on('end', () => (stdinOpen = false)).resume();
  while (Date.now() < end && stdinOpen) {
    await new Promise((r) => setTimeout(r, 500));
    const fresh = await page.evaluate((from) => window.__tileChanges.slice(from), sent);
    for (const c of fresh) out(c);
    sent += fresh.length;
  }
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
  out({ js_heap_used_mib: +(m.JSHeapUsedSize / 1048576).toFixed(1), nodes: m.Nodes });
} finally {
  await browser.close();
}
