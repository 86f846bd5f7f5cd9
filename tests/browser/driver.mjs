// A browser the Python tests can step: Debian's /usr/bin/chromium driven by playwright-core.
// Reads one JSON command per line on stdin, answers one JSON line per command on stdout:
//   {"id": 1, "cmd": "goto", "url": "http://127.0.0.1:8470/?token=…"}
//   → {"id": 1, "ok": true, "value": …}   or   {"id": 1, "ok": false, "error": "…"}
// Commands (all take an optional "page" name, default "main", and "timeout" in ms):
//   open {viewport?}            new page with that name, in a fresh context (no stored token)
//   goto {url}                  navigate, wait for DOMContentLoaded
//   wait {selector, state?}     state: visible (default) | attached | detached | hidden
//   wait_attr {selector, attr, value, not?}  first element matching selector has attr == value
//                               (or != value with not: true); value = the page's Date.now() then
//   attrs {selector, names}     [{name: value…}] for every match
//   count {selector}            number of matches
//   text {selector}             textContent of the first match
//   click {selector} | fill {selector, value} | press {selector?, key}
//   eval {expr}                 page.evaluate(expr) (an expression string)
//   screenshot {path, full?}    PNG
//   download {selector, path}   click selector, wait for the download it starts, save it to path;
//                               → {path, name (the suggested file name), url}
//   frame_text {selector, inner?}  textContent of `inner` (default body) in the iframe `selector`
//                               (works for sandboxed srcdoc frames the page itself cannot read)
//   url                         current address
//   log                         console errors, page errors and failed requests so far (then cleared)
//   close {page}                close a page
//   pages                       names of the open pages
//   quit                        close the browser and exit
// The driver exits when stdin closes (the test died) and after DRIVER_MAX_SECONDS (default 900).
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const MAX_SECONDS = Number(process.env.DRIVER_MAX_SECONDS ?? 900);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  timeout: 30_000,
});
const pages = new Map();
const logs = new Map();

// Every page has its own context: its own localStorage (the remembered token) and cookies.
async function openPage(name, viewport) {
  const context = await browser.newContext({
    viewport: viewport ?? { width: 1600, height: 900 },
    acceptDownloads: true,
    locale: 'ja-JP',
    timezoneId: 'Asia/Tokyo',
  });
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log.push(`pageerror: ${e}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));
  pages.set(name, page);
  logs.set(name, log);
  return page;
}

let quitting = false;
async function shutdown(code) {
  if (quitting) return;
  quitting = true;
  try {
    await Promise.race([browser.close(), new Promise((r) => setTimeout(r, 5000))]);
  } finally {
    process.exit(code);
  }
}
setTimeout(() => {
  process.stderr.write(`driver: ${MAX_SECONDS} s passed, exiting\n`);
  void shutdown(3);
}, MAX_SECONDS * 1000).unref();

async function run(c) {
  const name = c.page ?? 'main';
  const timeout = c.timeout ?? 10_000;
  if (c.cmd === 'open') {
    await pages.get(name)?.context().close();
    await openPage(name, c.viewport);
    return null;
  }
  if (c.cmd === 'pages') return [...pages.keys()];
  if (c.cmd === 'quit') {
    setTimeout(() => void shutdown(0), 10);
    return null;
  }
  const page = pages.get(name) ?? (name === 'main' ? await openPage(name) : null);
  if (!page) throw new Error(`no page "${name}"`);
  switch (c.cmd) {
    case 'goto':
      await page.goto(c.url, { waitUntil: 'domcontentloaded', timeout });
      return page.url();
    case 'wait':
      await page.locator(c.selector).first().waitFor({ state: c.state ?? 'visible', timeout });
      return Date.now();
    case 'wait_attr': {
      const h = await page.waitForFunction(
        ([sel, attr, value, not]) => {
          const el = document.querySelector(sel);
          if (!el) return false;
          const v = el.getAttribute(attr);
          return (not ? v !== value : v === value) ? Date.now() : false;
        },
        [c.selector, c.attr, c.value, !!c.not],
        { polling: 50, timeout },
      );
      return h.jsonValue();
    }
    case 'attrs':
      return page.$$eval(
        c.selector,
        (els, names) => els.map((el) => Object.fromEntries(names.map((n) => [n, el.getAttribute(n)]))),
        c.names,
      );
    case 'count':
      return page.locator(c.selector).count();
    case 'text':
      return page.locator(c.selector).first().textContent({ timeout });
    case 'click':
      await page.locator(c.selector).first().click({ timeout });
      return null;
    case 'fill':
      await page.locator(c.selector).first().fill(c.value, { timeout });
      return null;
    case 'press':
      if (c.selector) await page.locator(c.selector).first().press(c.key, { timeout });
      else await page.keyboard.press(c.key);
      return null;
    case 'eval':
      return page.evaluate(c.expr);
    case 'screenshot':
      await page.screenshot({ path: c.path, fullPage: !!c.full, timeout });
      return c.path;
    case 'download': {
      const [dl] = await Promise.all([
        page.waitForEvent('download', { timeout }),
        page.locator(c.selector).first().click({ timeout }),
      ]);
      await dl.saveAs(c.path);
      const failure = await dl.failure();
      if (failure) throw new Error(`download failed: ${failure}`);
      return { path: c.path, name: dl.suggestedFilename(), url: dl.url() };
    }
    case 'frame_text':
      return page.frameLocator(c.selector).locator(c.inner ?? 'body').first().textContent({ timeout });
    case 'url':
      return page.url();
    case 'log': {
      const log = logs.get(name) ?? [];
      const out = log.splice(0, log.length);
      return out;
    }
    case 'close':
      await page.context().close();
      pages.delete(name);
      return null;
    default:
      throw new Error(`unknown command "${c.cmd}"`);
  }
}

const send = (o) => process.stdout.write(JSON.stringify(o) + '\n');
send({ id: 0, ok: true, value: { ready: true, version: browser.version() } });

const rl = createInterface({ input: process.stdin });
// Commands run one after another, in order.
let chain = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  chain = chain.then(async () => {
    let c;
    try {
      c = JSON.parse(line);
    } catch (e) {
      send({ id: null, ok: false, error: `bad JSON: ${e}` });
      return;
    }
    try {
      send({ id: c.id, ok: true, value: (await run(c)) ?? null });
    } catch (e) {
      send({ id: c.id, ok: false, error: String(e?.message ?? e).split('\n').slice(0, 6).join('\n') });
    }
  });
});
rl.on('close', () => void chain.then(() => shutdown(0)));
