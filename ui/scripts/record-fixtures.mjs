// Records what consoles get from the real engine into tests/fixtures/*.json, for the UI's unit
// tests (tests/replay.ts plays them back). Re-run it when the console contract changes
// (`make ui-fixtures`, or `npm run fixtures` with ANSHIN_BIN set) and commit the result.
//
// It starts `anshin demo --listen 127.0.0.1:<free port>` on a fresh store in a temporary
// directory, with two operator tokens and a viewer token (ANSHIN_TOKENS), reads the console feed
// over the WebSocket, follows the demo's scripted outage cycle (web01 HTTP down 20 s after the
// start, mail02 SMTP wrong from 110 s: crates/anshin-demo/src/schedule.rs) and asks what a
// console asks (reads, actions, refusals), writing each request with the engine's answer. The
// demo fleet has no reboot action and no SSH access, so for a recovery that runs (and for monthly
// reports, which need a store that watched last month) it then starts `anshin serve` on the same
// fleet file with a reboot action for web02, beside the demo's simulated servers (recovery.json,
// exchanges named recovery_* and report*). Every wait is bounded; each engine is stopped by its
// PID whatever happens.
//
// Binary: ANSHIN_BIN, default <repo>/target/debug/anshin. Node 20 needs --experimental-websocket
// for the feed: the script re-runs itself with it when WebSocket is missing.

import { spawn, spawnSync } from 'node:child_process';
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
  const ANSHIN_TOKENS = `operator ${tokens.operator} ${names.operator};operator ${tokens.other} ${names.other};viewer ${tokens.viewer} ${names.viewer}`;
  const engines = [];
  /** Starts `anshin ARGS` (output into DIR/NAME.log); `stop()` ends it by its PID. */
  function start(name, args) {
    const e = { name, log: join(dir, `${name}.log`), exited: null };
    const out = createWriteStream(e.log);
    e.child = spawn(bin, args, { env: { ...process.env, ANSHIN_TOKENS }, stdio: ['ignore', 'pipe', 'pipe'] });
    e.child.stdout.pipe(out);
    e.child.stderr.pipe(out);
    e.child.on('exit', (code, signal) => (e.exited = { code, signal }));
    e.stop = async () => {
      if (e.exited) return;
      e.child.kill('SIGTERM');
      if (!(await until(() => e.exited, 15_000))) e.child.kill('SIGKILL');
      await until(() => e.exited, 5_000);
    };
    engines.push(e);
    return e;
  }
  const stopAll = async () => {
    for (const e of [...engines].reverse()) await e.stop();
  };
  process.on('SIGINT', () => void stopAll().then(() => process.exit(130)));
  /** Waits until the engine at `at` answers a token. */
  async function answering(e, at) {
    const up = await until(async () => {
      if (e.exited) fail(`${e.name} exited (${JSON.stringify(e.exited)}):\n${await tail(e.log)}`);
      try {
        return (await fetch(`${at}/api/v1/whoami`, { headers: { Authorization: `Bearer ${tokens.operator}` } })).ok;
      } catch {
        return false;
      }
    }, 60_000);
    if (!up) fail(`${e.name} did not answer on ${at} within 60 s:\n${await tail(e.log)}`);
    say(`${e.name} up on ${at} (pid ${e.child.pid})`);
  }
  const engine = start('demo', ['demo', '--db', join(dir, 'demo.db'), '--listen', `127.0.0.1:${port}`]);
  const started = Date.now();
  const say = (m) => console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(3)} s] ${m}`);

  const exchanges = [];
  /** One request as the UI's HttpBackend makes it, with the engine's answer. */
  async function ask(name, role, method, path, body, at = base) {
    const headers = { Authorization: `Bearer ${tokens[role]}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const res = await fetch(at + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(20_000) });
    const text = await res.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    const ex = { name, role, method, path, body: body ?? null, status: res.status, ...(json !== undefined ? { json } : { text }), ...(at !== base ? { engine: 'serve' } : {}) };
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
    await answering(engine, base);
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
    // contract §9.8: every consent has its cause; beyond what was consented (50,000 yen at first)
    // only after a call the customer answered, begun after the latest consent.
    await act('consent_no_cause', `/incidents/${id}/consents`, { kind: 'investigation', amount_yen: 30000, customer_person: '佐藤様' });
    await act('consent_over_cap', `/incidents/${id}/consents`, { kind: 'investigation', amount_yen: 60000, customer_person: '佐藤様', cause: 'traffic_surge' });
    await act('consent', `/incidents/${id}/consents`, { kind: 'investigation', amount_yen: 30000, customer_person: '佐藤様', cause: 'traffic_surge' });
    await get('escalation_consented', `/api/v1/incidents/${id}/escalation`);
    await act('consent_again_no_call', `/incidents/${id}/consents`, { kind: 'investigation', amount_yen: 60000, customer_person: '佐藤様', note: '再承諾', cause: 'traffic_surge' });
    await act('log_call_answered', `/incidents/${id}/calls`, { number: phones[0] ?? '03-0000-0001', outcome: 'answered', answered_by: '山田様' });
    await act('consent_again', `/incidents/${id}/consents`, { kind: 'investigation', amount_yen: 60000, customer_person: '佐藤様', note: '再承諾', cause: 'traffic_surge' });
    await get('escalation_answered', `/api/v1/incidents/${id}/escalation`);
    await act('recover_open', `/incidents/${id}/recover`, {});
    await act('recover_unknown', '/incidents/999999/recover', {});
    await act('restart_not_restartable', '/servers/web01/restart/ssh', {});
    await act('reboot_plan_zero', '/servers/vps01/reboot', {});
    await act('reboot_needs_consent', '/servers/web02/reboot', {});
    await act('reboot_low_consent', '/servers/web02/reboot', { consent: { customer_person: '山田様', amount_yen: 100 } });
    // Consent given, but the demo fleet has no reboot action (a recovery that runs: below).
    await act('reboot_no_action', '/servers/web02/reboot', { consent: { customer_person: '山田様', amount_yen: 20000 } });
    await act('reboot_viewer', '/servers/web02/reboot', {}, 'viewer');

    // A window on web03: extended, ended, ended again.
    const w = await act('pause_web03', '/maintenance', { scope: { kind: 'server', id: 'web03' }, minutes: 60, reason: 'OS アップデート作業' });
    const viewOf = (label, pred) => () => feed.messages.some((m) => m.message?.type === 'delta' && m.message.servers.some((s) => s.label === label && pred(s)));
    await need(viewOf('web03', (s) => s.maintenance?.id === w.json.id), 15_000, 'the delta of paused web03');
    await act('extend_pause', `/maintenance/${w.json.id}/extend`, { minutes: 30 });
    await get('maintenance_list_active', '/api/v1/maintenance');
    await get('server_detail_extended', '/api/v1/servers/web03');
    await act('end_pause', `/maintenance/${w.json.id}/end`, {});
    await need(viewOf('web03', (s) => s.maintenance === null), 15_000, 'the delta of web03 after its pause');
    await act('end_pause_again', `/maintenance/${w.json.id}/end`, {});
    // Every server of a customer (plan zero: vps01, vps02), now, then ended.
    const c = await act('pause_customer', '/maintenance', { scope: { kind: 'customer', id: 'c1002' }, minutes: 30, reason: 'ネットワーク工事' });
    await need(viewOf('vps02', (s) => s.maintenance?.id === c.json.id), 15_000, 'the delta of the paused customer');
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

    // ---------------------------------------------------------------- a recovery that runs
    // The demo fleet has no reboot action and no SSH access, so no recovery ever runs on it. For
    // one that does: `anshin serve` on the same fleet file with a reboot action for web02 (a
    // program that succeeds), watching the servers the demo above simulates.
    const fleet = (await readFile(join(repo, 'assets', 'demo-fleet.toml'), 'utf8')).replace(/^label = "web02"$/m, 'label = "web02"\nreboot = { command = ["/bin/true"] }');
    if (!fleet.includes('/bin/true')) fail('assets/demo-fleet.toml has no server web02');
    await writeFile(join(dir, 'fleet.toml'), fleet);
    const port2 = await freePort();
    const base2 = `http://127.0.0.1:${port2}`;
    const serveArgs = ['serve', join(dir, 'fleet.toml'), '--db', join(dir, 'serve.db'), '--listen', `127.0.0.1:${port2}`];
    // Monthly reports cover watched time only: a first start makes the store, which then gets an
    // engine_started on the 1st of last month, so the second start drafts last month's reports.
    const firstServe = start('serve-first', serveArgs);
    await answering(firstServe, base2);
    await firstServe.stop();
    seedStarted(join(dir, 'serve.db'), previousMonthStart(Date.now()));
    const serve = start('serve', serveArgs);
    await answering(serve, base2);
    const feed2 = openFeed(base2, tokens.operator);
    await need(() => feed2.messages.some((m) => m.message?.type === 'snapshot'), 20_000, 'the snapshot of serve');
    const consent = { customer_person: '山田様', amount_yen: 20000 };
    const started2 = await ask('recovery_reboot', 'operator', 'POST', '/api/v1/servers/web02/reboot', { consent }, base2);
    await ask('recovery_busy', 'operator', 'POST', '/api/v1/servers/web02/reboot', { consent }, base2);
    if (started2.status !== 200) fail(`the reboot of web02 did not start: ${JSON.stringify(started2.json)}`);
    say('waiting for the reboot of web02 to end (a settle time, then re-checks)');
    await need(() => event(feed2, (e) => e.event === 'recovery_finished' && e.id === started2.json.id), 120_000, 'the end of the reboot of web02');
    await ask('recovery_list', 'operator', 'GET', `/api/v1/recoveries?${new URLSearchParams({ host: 'web02', limit: '10' })}`, undefined, base2);
    await ask('recovery_audit', 'operator', 'GET', `/api/v1/audit?${new URLSearchParams({ limit: '50' })}`, undefined, base2);
    // Monthly reports (of this engine: the demo's store watched no month).
    const reports = await ask('reports', 'operator', 'GET', '/api/v1/reports', undefined, base2);
    const rows = Array.isArray(reports.json) ? reports.json : [];
    const month = rows[0]?.month;
    if (!month) fail(`no monthly report was drafted: ${JSON.stringify(reports.json)}`);
    const onServe = (name, method, path, body, role = 'operator') => ask(name, role, method, path, body, base2);
    await onServe('reports_month', 'GET', `/api/v1/reports?${new URLSearchParams({ month })}`);
    const preview = await onServe('report_preview', 'GET', `/api/v1/reports/${rows[0].id}/preview`);
    // The preview is the mail's HTML with its charts inlined: the start is kept (tests look at the shape).
    if (preview.text && preview.text.length > 4000) Object.assign(preview, { text: preview.text.slice(0, 4000), truncated: true });
    const d = rows.find((r) => r.state === 'draft');
    if (!d) fail('no draft among the reports');
    await onServe('report_hold', 'POST', `/api/v1/reports/${d.id}/hold`, {});
    await onServe('report_hold_again', 'POST', `/api/v1/reports/${d.id}/hold`, {});
    await onServe('report_release', 'POST', `/api/v1/reports/${d.id}/release`, {});
    const h = rows.find((r) => r.state === 'draft' && r.id !== d.id);
    if (h) await onServe('report_hold_other', 'POST', `/api/v1/reports/${h.id}/hold`, {});
    await onServe('report_send_all_viewer', 'POST', `/api/v1/reports/send-all?${new URLSearchParams({ month })}`, {}, 'viewer');
    await onServe('report_send_all', 'POST', `/api/v1/reports/send-all?${new URLSearchParams({ month })}`, {});
    await onServe('reports_after_send', 'GET', `/api/v1/reports?${new URLSearchParams({ month })}`);
    await onServe('reports_bad_month', 'GET', `/api/v1/reports?${new URLSearchParams({ month: '2026-13' })}`);
    feed2.close();
    await serve.stop();

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
    await writeJson(join(out, 'recovery.json'), {
      ...recorded,
      engine: 'anshin serve on assets/demo-fleet.toml with a reboot action for web02 (/bin/true), beside the demo',
      about: 'what one operator console of that engine got while web02 was rebooted (exchanges named recovery_*), in order',
      messages: feed2.messages,
    });
    await writeJson(join(out, 'exchanges.json'), {
      ...recorded,
      about: 'requests as the UI\'s HttpBackend makes them (role: whose token) and the engine\'s answers (json, or text)',
      exchanges,
    });
    say(`wrote ${join(out, 'feed.json')} (${feed.messages.length} messages) and exchanges.json (${exchanges.length} exchanges)`);
  } catch (e) {
    console.error(`record-fixtures: ${e instanceof Error ? e.message : e}`);
    for (const e of engines) console.error(`${e.name} log (${e.log}):\n${await tail(e.log)}`);
    process.exitCode = 1;
  } finally {
    await stopAll();
    if (process.exitCode !== 1) await rm(dir, { recursive: true, force: true });
    say(`stopped: ${engines.map((e) => `${e.name} ${JSON.stringify(e.exited)}`).join(', ')}`);
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

/** Appends an `engine_started` at `at` to the store's log, chained by the recipe of
 * crates/anshin-engine/src/store/audit.rs (the log still verifies). */
function seedStarted(db, at) {
  const py = [
    'import hashlib, sqlite3, sys',
    'def f(v): return b"-" if v is None else (lambda b: str(len(b)).encode() + b":" + b)(str(v).encode())',
    'con = sqlite3.connect(sys.argv[1], timeout=10)',
    'with con:',
    '    last, prev = con.execute("SELECT id, hash FROM events ORDER BY id DESC LIMIT 1").fetchone()',
    '    row = (last + 1, sys.argv[2], "engine_started", None, None, None, "seeded by record-fixtures", "record-fixtures")',
    '    h = hashlib.sha256(prev.encode() + b"".join(f(v) for v in row)).hexdigest()',
    '    con.execute("INSERT INTO events (id, at, kind, incident_id, host, check_id, detail, actor, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row + (h,))',
    '    con.execute("UPDATE audit_head SET last_event = ?, hash = ? WHERE id = 1", (row[0], h))',
  ].join('\n');
  const r = spawnSync(process.env.PYTHON ?? 'python3', ['-c', py, db, at], { encoding: 'utf8' });
  if (r.status !== 0) fail(`seeding ${db}: ${r.error ?? r.stderr}`);
}

/** The 1st of last month, 00:00 JST, as the store writes times. */
function previousMonthStart(now) {
  const jst = new Date(now + 9 * 3_600_000);
  return new Date(Date.UTC(jst.getUTCFullYear(), jst.getUTCMonth() - 1, 1) - 9 * 3_600_000).toISOString();
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
