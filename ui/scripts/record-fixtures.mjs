// Records what consoles get from the real engine into tests/fixtures/*.json, for the UI's unit
// tests (tests/replay.ts plays them back). Re-run it when the console contract changes
// (`make ui-fixtures`, or `npm run fixtures` with ANSHIN_BIN set) and commit the result.
//
// It starts `anshin demo --listen 127.0.0.1:<free port>` on a fresh store in a temporary
// directory, with two operator tokens and a viewer token (ANSHIN_TOKENS), reads the console feed
// over the WebSocket, follows the demo's scripted outage cycle (web01 HTTP down 20 s after the
// start, mail02 SMTP wrong from 110 s: crates/anshin-demo/src/schedule.rs) and asks what a
// console asks (reads, actions, refusals), writing each request with the engine's answer. Every
// wait is bounded; the engine is stopped by its PID whatever happens.
//
// Binary: ANSHIN_BIN, default <repo>/target/debug/anshin. Node 20 needs --experimental-websocket
// for the feed: the script re-runs itself with it when WebSocket is missing.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

if (typeof WebSocket === 'undefined') {
  const child = spawn(process.execPath, ['--experimental-websocket', ...process.argv.slice(1)], { stdio: 'inherit' });
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
} else {
  await main();
}

async function main() {
  const ui = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const repo = resolve(ui, '..');
  const out = join(ui, 'tests', 'fixtures');
  const bin = process.env.ANSHIN_BIN ?? join(repo, 'target', 'debug', 'anshin');
  if (!existsSync(bin)) fail(`no engine binary at ${bin} (set ANSHIN_BIN, or build it: make build)`);

  const dir = await mkdtemp(join(tmpdir(), 'anshin-fixtures-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const tokens = { operator: token(), other: token(), viewer: token() };
  const names = { operator: 'yamada', other: 'suzuki', viewer: 'wall' };
  const log = createWriteStream(join(dir, 'engine.log'));
  const engine = spawn(bin, ['demo', '--db', join(dir, 'demo.db'), '--listen', `127.0.0.1:${port}`], {
    env: {
      ...process.env,
      ANSHIN_TOKENS: `operator ${tokens.operator} ${names.operator};operator ${tokens.other} ${names.other};viewer ${tokens.viewer} ${names.viewer}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  engine.stdout.pipe(log);
  engine.stderr.pipe(log);
  let exited = null;
  engine.on('exit', (code, signal) => (exited = { code, signal }));
  const stop = async () => {
    if (exited) return;
    engine.kill('SIGTERM');
    if (!(await until(() => exited, 15_000))) engine.kill('SIGKILL');
    await until(() => exited, 5_000);
  };
  process.on('SIGINT', () => void stop().then(() => process.exit(130)));
  const started = Date.now();
  const say = (m) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${m}`);

  const exchanges = [];
  /** One request as the UI's HttpBackend makes it, with the engine's answer. */
  async function ask(name, role, method, path, body) {
    const headers = { Authorization: `Bearer ${tokens[role]}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const ex = { name, role, method, path, body: body ?? null, status: res.status, ...(json !== undefined ? { json } : { text }) };
    if (exchanges.some((e) => e.name === name)) fail(`two exchanges named ${name}`);
    exchanges.push(ex);
    say(`${name}: ${method} ${path} → ${res.status}${json?.code ? ` ${json.code}` : ''}`);
    return ex;
  }
  const get = (name, path, role = 'operator') => ask(name, role, 'GET', path);
  const post = (name, path, body, role = 'operator') => ask(name, role, 'POST', path, body);
  const act = async (name, path, body, role = 'operator') => post(name, `/api/v1${path}`, body, role);

  try {
    // ---------------------------------------------------------------- the engine up, the feed open
    const up = await until(async () => {
      if (exited) fail(`the engine exited (${JSON.stringify(exited)}):\n${await tail(join(dir, 'engine.log'))}`);
      try {
        const r = await fetch(`${base}/api/v1/whoami`, { headers: { Authorization: `Bearer ${tokens.operator}` } });
        return r.ok;
      } catch {
        return false;
      }
    }, 60_000);
    if (!up) fail(`the engine did not answer on ${base} within 60 s:\n${await tail(join(dir, 'engine.log'))}`);
    say(`engine up on ${base} (pid ${engine.pid})`);
    const feed = openFeed(base, tokens.operator);
    await need(() => feed.messages.some((m) => m.message?.type === 'snapshot'), 20_000, 'the first snapshot');

    await get('whoami_operator', '/api/v1/whoami');
    await get('whoami_viewer', '/api/v1/whoami', 'viewer');
    await get('customers', '/api/v1/customers');
    await get('catalogue', '/api/v1/catalogue');
    await get('server_detail', '/api/v1/servers/web01');
    await get('server_detail_unknown', '/api/v1/servers/nosuchhost');
    await get('samples', `/api/v1/samples?${new URLSearchParams({ host: 'web01', resource: 'load', hours: '24' })}`);
    await get('health', '/api/v1/health');

    // ---------------------------------------------------------------- web01 HTTP down (~50 s in)
    say('waiting for web01 HTTP to open an incident (the demo breaks it 20 s after its start)');
    const opened = await need(() => event(feed, (e) => e.event === 'incident_opened' && e.host === 'web01' && e.check === 'http'), 150_000, 'web01 HTTP incident');
    const id = opened.id;
    // Pause mail02 before its SMTP breaks (110 s in): its incident opens held (paused).
    const paused = await act('pause_server', '/maintenance', { scope: { kind: 'server', id: 'mail02' }, minutes: 30, reason: 'カーネル更新' });
    const pauseId = paused.json.id;
    await act('pause_invalid', '/maintenance', { scope: { kind: 'server', id: 'web03' }, minutes: 30, reason: '' });
    await act('pause_unknown_server', '/maintenance', { scope: { kind: 'server', id: 'nosuchhost' }, minutes: 30, reason: 'r' });
    await get('incidents_open', '/api/v1/incidents?open=true&limit=500');
    await get('escalation_before_calls', `/api/v1/incidents/${id}/escalation`);
    await act('acknowledge_viewer', `/incidents/${id}/acknowledge`, {}, 'viewer');
    await act('acknowledge', `/incidents/${id}/acknowledge`, { note: '確認します' });
    await act('acknowledge_again', `/incidents/${id}/acknowledge`, {});
    await act('acknowledge_taken', `/incidents/${id}/acknowledge`, {}, 'other');
    await act('acknowledge_unknown', '/incidents/999999/acknowledge', {});
    await act('note', `/incidents/${id}/notes`, { text: '折り返し待ち' });
    await act('note_empty', `/incidents/${id}/notes`, { text: '  ' });
    const customers = exchanges.find((e) => e.name === 'customers').json;
    const phones = customers.find((c) => c.id === 'c1001')?.phones ?? [];
    for (const [k, number] of phones.entries()) {
      await act(`log_call_${k + 1}`, `/incidents/${id}/calls`, { number, outcome: k === 0 ? 'voicemail' : 'no_answer', notes: 'n' });
    }
    await act('log_call_invalid', `/incidents/${id}/calls`, { number: '', outcome: 'answered' });
    const esc = await get('escalation_exhausted', `/api/v1/incidents/${id}/escalation`);
    const draft = esc.json.status_report;
    if (draft) await act('status_report', `/incidents/${id}/status-report`, { subject: draft.subject, body: draft.body });
    await act('consent_over_cap', `/incidents/${id}/consents`, { kind: 'investigation', amount_yen: 60000, customer_person: '佐藤様' });
    await act('consent', `/incidents/${id}/consents`, { kind: 'investigation', amount_yen: 30000, customer_person: '佐藤様' });
    await act('consent_again', `/incidents/${id}/consents`, { kind: 'investigation', amount_yen: 60000, customer_person: '佐藤様', note: '再承諾' });
    await act('log_call_answered', `/incidents/${id}/calls`, { number: phones[0] ?? '03-0000-0001', outcome: 'answered', answered_by: '山田様' });
    await get('escalation_answered', `/api/v1/incidents/${id}/escalation`);
    await act('recover_open', `/incidents/${id}/recover`, {});
    await act('recover_unknown', '/incidents/999999/recover', {});
    await act('restart_not_restartable', '/servers/web01/restart/ssh', {});
    await act('reboot_plan_zero', '/servers/vps01/reboot', {});
    await act('reboot_needs_consent', '/servers/web02/reboot', {});
    await act('reboot_low_consent', '/servers/web02/reboot', { consent: { customer_person: '山田様', amount_yen: 100 } });
    const reboot = await act('reboot_spot', '/servers/web02/reboot', { consent: { customer_person: '山田様', amount_yen: 20000 } });
    await act('reboot_busy', '/servers/web02/reboot', { consent: { customer_person: '山田様', amount_yen: 20000 } });
    await act('reboot_viewer', '/servers/web02/reboot', {}, 'viewer');
    if (reboot.status === 200) {
      await need(() => event(feed, (e) => e.event === 'recovery_finished' && e.id === reboot.json.id), 90_000, 'the end of the reboot of web02');
    }

    // A window on web03: extended, ended, ended again.
    const w = await act('pause_web03', '/maintenance', { scope: { kind: 'server', id: 'web03' }, minutes: 60, reason: 'OS アップデート作業' });
    await act('extend_pause', `/maintenance/${w.json.id}/extend`, { minutes: 30 });
    await get('maintenance_list_active', '/api/v1/maintenance');
    await act('end_pause', `/maintenance/${w.json.id}/end`, {});
    await act('end_pause_again', `/maintenance/${w.json.id}/end`, {});
    // Every server of a customer (plan zero: vps01, vps02), now, then ended.
    const c = await act('pause_customer', '/maintenance', { scope: { kind: 'customer', id: 'c1002' }, minutes: 30, reason: 'ネットワーク工事' });
    await need(() => feed.messages.some((m) => m.message?.type === 'delta' && m.message.servers.some((s) => s.label === 'vps02' && s.maintenance)), 15_000, 'the delta of the paused customer');
    await act('end_pause_customer', `/maintenance/${c.json.id}/end`, {});
    const later = new Date(Date.now() + 86_400_000);
    later.setUTCSeconds(0, 0);
    await act('pause_customer_later', '/maintenance', {
      scope: { kind: 'customer', id: 'c1006' }, starts_at: later.toISOString(), ends_at: new Date(later.getTime() + 7_200_000).toISOString(), reason: 'データセンター移設',
    });

    // ---------------------------------------------------------------- web01 back (~120 s in)
    say('waiting for web01 HTTP to recover (the demo repairs it 110 s after its start)');
    await need(() => event(feed, (e) => e.event === 'incident_closed' && e.id === id), 180_000, 'web01 HTTP incident closed');
    await act('recover_closed', `/incidents/${id}/recover`, {});
    await act('acknowledge_closed', `/incidents/${id}/acknowledge`, {}, 'other');
    await get('escalation_closed', `/api/v1/incidents/${id}/escalation`);

    // ---------------------------------------------------------------- mail02 SMTP while paused
    say('waiting for mail02 SMTP to open an incident while paused (the demo breaks it 110 s after its start)');
    const held = await need(() => event(feed, (e) => e.event === 'incident_opened' && e.host === 'mail02'), 150_000, 'mail02 incident (paused)');
    await need(() => feed.messages.some((m) => m.message?.type === 'delta' && m.message.servers.some((s) => s.label === 'mail02' && s.maintenance && s.worst_level !== null)), 15_000, 'the delta of paused mail02 with its incident');
    await get('server_detail_paused', '/api/v1/servers/mail02');
    await act('end_pause_with_problem', `/maintenance/${pauseId}/end`, {});
    await need(() => event(feed, (e) => e.event === 'alert_released' && e.id === held.id), 20_000, 'alert_released of mail02');
    await get('maintenance_list', '/api/v1/maintenance');

    // ---------------------------------------------------------------- the log
    await get('recoveries', '/api/v1/recoveries');
    await get('recoveries_web02', `/api/v1/recoveries?${new URLSearchParams({ host: 'web02', limit: '10' })}`);
    await get('audit', `/api/v1/audit?${new URLSearchParams({ limit: '500' })}`);
    const audit = exchanges.at(-1).json;
    const mid = audit.entries[Math.floor(audit.entries.length / 2)]?.id;
    if (mid !== undefined) await get('audit_page', `/api/v1/audit?${new URLSearchParams({ limit: '5', before: String(mid) })}`);
    await get('incidents_all', '/api/v1/incidents?open=false&limit=500');
    const today = jstDay(Date.now());
    const review = (name, f, role) => get(name, `/api/v1/review${Object.keys(f).length ? `?${new URLSearchParams(f)}` : ''}`, role);
    await review('review', { limit: '50' });
    await review('review_server', { server: 'web01' });
    await review('review_check_level', { level: '4', check: 'http' });
    await review('review_customer_open', { customer: 'c1003', open: 'true' });
    await review('review_days', { from: today, to: today });
    await review('review_operator', { operator: 'yamada' });
    await review('review_text', { text: '折り返し' });
    await review('review_bad_date', { from: '2026-02-31' });
    await review('review_viewer', { limit: '5' }, 'viewer');

    // ---------------------------------------------------------------- monthly reports
    const reports = await get('reports', '/api/v1/reports');
    const rows = Array.isArray(reports.json) ? reports.json : [];
    const month = rows[0]?.month;
    if (month) {
      await get('reports_month', `/api/v1/reports?${new URLSearchParams({ month })}`);
      const preview = await get('report_preview', `/api/v1/reports/${rows[0].id}/preview`);
      // The preview is the mail's HTML with its charts inlined: keep the start (tests look at the shape).
      if (preview.text && preview.text.length > 4000) Object.assign(preview, { text: preview.text.slice(0, 4000), truncated: true });
      const d = rows.find((r) => r.state === 'draft');
      if (d) {
        await post('report_hold', `/api/v1/reports/${d.id}/hold`, {});
        await post('report_hold_again', `/api/v1/reports/${d.id}/hold`, {});
        await post('report_release', `/api/v1/reports/${d.id}/release`, {});
      }
      await post('report_send_all_viewer', `/api/v1/reports/send-all?${new URLSearchParams({ month })}`, {}, 'viewer');
      await post('report_send_all', `/api/v1/reports/send-all?${new URLSearchParams({ month })}`, {});
      await get('reports_after_send', `/api/v1/reports?${new URLSearchParams({ month })}`);
    }
    await get('reports_bad_month', `/api/v1/reports?${new URLSearchParams({ month: '2026-13' })}`);

    // ---------------------------------------------------------------- the feed, then a new snapshot
    await need(() => feed.messages.some((m) => m.message?.type === 'delta' && m.message.servers.length === 0), 15_000, 'a heartbeat (a delta without servers)');
    const second = openFeed(base, tokens.viewer);
    const end = await need(() => second.messages.find((m) => m.message?.type === 'snapshot')?.message, 20_000, 'the snapshot of a second console');
    // The first console has every change up to that snapshot (tests merge them and compare).
    await need(() => feed.messages.some((m) => m.message?.type === 'delta' && m.message.rev >= end.rev), 15_000, `the first console's delta of rev ${end.rev}`);
    feed.close();
    second.close();

    // ---------------------------------------------------------------- written down
    await mkdir(out, { recursive: true });
    const recorded = {
      recorded_with: 'ui/scripts/record-fixtures.mjs (make ui-fixtures)',
      engine: `anshin demo (${bin.split('/').slice(-3).join('/')})`,
      recorded_at: new Date().toISOString(),
      tokens: names,
    };
    const [first, ...rest] = feed.messages;
    if (first?.message?.type !== 'snapshot') fail('the feed did not start with a snapshot');
    // The first snapshot on its own: the tests' fleet, and the perf page's templates (src/lib/backend/fake.ts).
    await writeJson(join(out, 'snapshot.json'), first.message);
    await writeJson(join(out, 'feed.json'), {
      ...recorded,
      about: 'what one operator console got after its first snapshot (snapshot.json), in order (`ms` since it connected), and the snapshot a second console got at the end (`end`)',
      messages: rest,
      end,
    });
    await writeJson(join(out, 'exchanges.json'), {
      ...recorded,
      about: 'requests as the UI\'s HttpBackend makes them (role: whose token) and the engine\'s answers (json, or text)',
      exchanges,
    });
    say(`wrote ${join(out, 'feed.json')} (${feed.messages.length} messages) and exchanges.json (${exchanges.length} exchanges)`);
  } catch (e) {
    console.error(`record-fixtures: ${e instanceof Error ? e.message : e}`);
    console.error(`engine log (${join(dir, 'engine.log')}):\n${await tail(join(dir, 'engine.log'))}`);
    process.exitCode = 1;
  } finally {
    await stop();
    if (process.exitCode !== 1) await rm(dir, { recursive: true, force: true });
    say(`engine stopped (${JSON.stringify(exited)})`);
  }

  function openFeed(url, tok) {
    const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/events?${new URLSearchParams({ token: tok })}`);
    const t0 = Date.now();
    const messages = [];
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') messages.push({ ms: Date.now() - t0, message: JSON.parse(ev.data) });
    };
    ws.onclose = (ev) => messages.push({ ms: Date.now() - t0, closed: { code: ev.code, reason: ev.reason } });
    return {
      messages,
      close: () => {
        ws.onclose = null;
        ws.close();
      },
    };
  }
}

function event(feed, pred) {
  for (const m of feed.messages) if (m.message?.type === 'event' && pred(m.message.event)) return m.message.event;
  return null;
}

/** Polls `f` every 200 ms until it gives something truthy, for at most `ms`: its value, or null. */
async function until(f, ms) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() >= end) return null;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function need(f, ms, what) {
  const v = await until(f, ms);
  if (!v) fail(`gave up waiting for ${what} after ${ms / 1000} s`);
  return v;
}

function fail(message) {
  throw new Error(message);
}

function token() {
  return randomBytes(16).toString('hex');
}

function freePort() {
  return new Promise((ok, bad) => {
    const s = createServer();
    s.once('error', bad);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** The Japan day of a time, `YYYY-MM-DD`. */
function jstDay(ms) {
  return new Date(ms + 9 * 3_600_000).toISOString().slice(0, 10);
}

async function tail(file) {
  try {
    return (await readFile(file, 'utf8')).split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

async function writeJson(file, value) {
  await writeFile(file, `${JSON.stringify(value, null, 1)}\n`);
}
