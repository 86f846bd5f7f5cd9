// Perf check in a real browser: serves dist/ on 127.0.0.1, opens `?fake=N&perf=1&quiet=1` in
// Debian's chromium (playwright-core, no browser download) and prints the page's measurements:
// time to first render of N tiles and the time to apply 100 deltas of PER (20) servers each, and
// the page's JS heap afterwards.
// Usage: npm run build && npm run perf [-- N [PER]]   (CHROMIUM=/path overrides /usr/bin/chromium)
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const n = Number(process.argv[2] ?? 2000);
const per = Number(process.argv[3] ?? 20);
const root = fileURLToPath(new URL('../dist/', import.meta.url));
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css' };
const server = createServer(async (req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const file = normalize(join(root, path === '/' || path === '/wall' ? 'index.html' : path));
  if (!file.startsWith(root)) return res.writeHead(403).end();
  try {
    const body = await readFile(file);
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { port } = server.address();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const view of ['', '&view=wall']) {
    const page = await browser.newPage({ viewport: { width: 1920, height: 1080 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${port}/?fake=${n}&per=${per}&perf=1&quiet=1${view}`);
    const report = await page.locator('[data-testid="perf"]').textContent({ timeout: 300_000 });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable');
    const { metrics } = await cdp.send('Performance.getMetrics');
    const heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
    console.log(`--- ${view ? 'wall' : 'operator'} view, ${n} servers\n${report}\npage JS heap after the deltas: ${(heap / 1048576).toFixed(1)} MiB`);
    if (errors.length) console.log(`page errors: ${errors.join('; ')}`);
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
