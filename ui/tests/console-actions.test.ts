import { afterEach, describe, expect, it, vi } from 'vitest';

// The Tauri transport, without a shell: `invoke` records what it was asked.
const invoked: { cmd: string; args: unknown }[] = [];
let invokeAnswer: (cmd: string, args: unknown) => unknown = () => null;
vi.mock('@tauri-apps/api/core', () => ({
  invoke: async (cmd: string, args: unknown) => {
    invoked.push({ cmd, args });
    return invokeAnswer(cmd, args);
  },
}));
vi.mock('@tauri-apps/api/event', () => ({ listen: async () => () => {} }));

import { TauriBackend } from '../src/lib/backend/tauri';
import { HttpBackend } from '../src/lib/backend/http';
import { FakeBackend, makeFleet } from '../src/lib/backend/fake';
import { FakeAudit, fakePrompt, statusReport } from '../src/lib/backend/fake-actions';
import * as normalize from '../src/lib/backend/normalize';
import { auditHref, choose, maintenanceHref, operatorHref } from '../src/lib/backend';
import { BackendError, type ConsoleMessage, type ServerView } from '../src/lib/backend/types';
import { fromSnapshot } from '../src/lib/model/fleet';
import { liveState, tileState } from '../src/lib/model/levels';
import { serverIncidents } from '../src/lib/model/incidents';

const MON_10 = Date.parse('2026-11-30T01:00:00Z'); // Monday 10:00 JST
const SAT_10 = Date.parse('2026-11-28T01:00:00Z');


describe('HTTP transport of the actions', () => {
  const calls: { url: string; init: RequestInit }[] = [];
  afterEach(() => {
    vi.unstubAllGlobals();
    calls.length = 0;
  });
  function stub(status: number, body: unknown) {
    vi.stubGlobal('fetch', async (url: URL, init: RequestInit) => {
      calls.push({ url: String(url), init });
      return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
    });
  }
  const http = () => new HttpBackend('http://127.0.0.1:8470', 'tok-operator', () => {});

  it('posts each action to its route with the bearer token', async () => {
    stub(200, { type: 'restart', id: 4, host: 'web01', action: 'restart:http', started_at: 's' });
    const r = await http().act({ type: 'restart', host: 'web01', service: 'http', consent: { customer_person: '山田様', amount_yen: 20000 } });
    expect(r).toMatchObject({ type: 'restart', id: 4 });
    expect(calls[0].url).toBe('http://127.0.0.1:8470/api/v1/servers/web01/restart/http');
    expect(calls[0].init.method).toBe('POST');
    expect((calls[0].init.headers as Record<string, string>).Authorization).toBe('Bearer tok-operator');
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ consent: { customer_person: '山田様', amount_yen: 20000 } });
  });
  it('keeps acknowledge on its route', async () => {
    stub(200, { type: 'acknowledge', incident: 7, host: 'web01', check: 'http', by: 'yamada', at: 'a' });
    expect(await http().acknowledge(7, ' note ')).toEqual({ type: 'acknowledge', incident: 7, host: 'web01', check: 'http', by: 'yamada', at: 'a' });
    expect(calls[0].url).toBe('http://127.0.0.1:8470/api/v1/incidents/7/acknowledge');
    expect(JSON.parse(String(calls[0].init.body))).toEqual({ note: 'note' });
  });
  it('throws a refusal with its code, and the running recovery of a busy one', async () => {
    const recovery = { id: 2, host: 'web01', action: 'reboot', requested_by: 'suzuki', started_at: '2026-11-30T01:00:00Z' };
    stub(409, { code: 'busy', message: 'a recovery of web01 is running', recovery });
    const err = await http().act({ type: 'reboot', host: 'web01' }).catch((e) => e);
    expect(err).toBeInstanceOf(BackendError);
    expect(err.detail).toBe('busy');
    expect(err.message).toBe('a recovery of web01 is running');
    expect((err.data as { recovery: unknown }).recovery).toEqual(recovery);
    stub(403, {});
    const forbidden = await http().act({ type: 'note', incident: 1, text: 'x' }).catch((e) => e);
    expect(forbidden.detail).toBe('forbidden');
  });
  it('reads escalation, maintenance, recoveries and audit from their routes', async () => {
    stub(200, []);
    const b = http();
    await b.escalation(12);
    await b.maintenance();
    await b.recoveries('web01', 10);
    await b.recoveries();
    await b.audit(100, 55);
    await b.audit();
    expect(calls.map((c) => c.url.replace('http://127.0.0.1:8470', ''))).toEqual([
      '/api/v1/incidents/12/escalation',
      '/api/v1/maintenance',
      '/api/v1/recoveries?host=web01&limit=10',
      '/api/v1/recoveries',
      '/api/v1/audit?limit=100&before=55',
      '/api/v1/audit',
    ]);
    expect(calls.every((c) => c.init.method === 'GET')).toBe(true);
  });
});

describe('Tauri transport of the actions', () => {
  afterEach(() => {
    invoked.length = 0;
  });
  it('invokes `act` with the action as is', async () => {
    invokeAnswer = () => ({ type: 'pause', id: 3, scope: { kind: 'server', id: 'web01' }, starts_at: 's', ends_at: 'e', active: true });
    const action = { type: 'pause' as const, scope: { kind: 'server' as const, id: 'web01' }, minutes: 30, reason: 'r' };
    expect(await new TauriBackend().act(action)).toMatchObject({ type: 'pause', id: 3, active: true });
    expect(invoked).toEqual([{ cmd: 'act', args: { action } }]);
  });
  it('carries the code of a refused command', async () => {
    invokeAnswer = () => {
      throw { code: 'needs_consent', message: 'spot' };
    };
    const err = await new TauriBackend().act({ type: 'reboot', host: 'a' }).catch((e) => e);
    expect(err).toMatchObject({ detail: 'needs_consent', message: 'spot' });
  });
  it('reads with the commands escalation, maintenance, recoveries and audit', async () => {
    invokeAnswer = () => null;
    const b = new TauriBackend();
    await b.escalation(4);
    await b.maintenance();
    await b.recoveries('web01');
    await b.audit(50);
    expect(invoked).toEqual([
      { cmd: 'escalation', args: { incident: 4 } },
      { cmd: 'maintenance', args: undefined },
      { cmd: 'recoveries', args: { host: 'web01', limit: null } },
      { cmd: 'audit', args: { limit: 50, before: null } },
    ]);
  });
});

// ------------------------------------------------------------------------------ the fake engine

function serverOf(b: FakeBackend, pred: (s: ServerView) => boolean): ServerView {
  const s = b.fleet.servers.find((x) => x.role === 'server' && !x.maintenance && !x.recovery && pred(x));
  if (!s) throw new Error('no such server in the fake fleet');
  return s;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('fake engine: recoveries', () => {
  it('refuses viewers', async () => {
    const b = new FakeBackend(60, { quiet: true, role: 'viewer' });
    await expect(b.act({ type: 'reboot', host: b.fleet.servers[3].label })).rejects.toMatchObject({ detail: 'forbidden' });
  });
  it('asks for consent for a plan 30 reboot, then runs it, then is busy, then finishes', async () => {
    const b = new FakeBackend(60, { quiet: true, recoveryMs: 30 });
    const msgs: ConsoleMessage[] = [];
    b.subscribe((m) => msgs.push(m));
    const s = serverOf(b, (x) => x.plan === '30');
    await expect(b.act({ type: 'reboot', host: s.label }, MON_10)).rejects.toMatchObject({ detail: 'needs_consent' });
    await expect(b.act({ type: 'reboot', host: s.label, consent: { customer_person: '山田様', amount_yen: 100 } }, MON_10)).rejects.toMatchObject({ detail: 'invalid' });
    const r = await b.act({ type: 'reboot', host: s.label, consent: { customer_person: '山田様', amount_yen: 20000 } }, MON_10);
    expect(r).toMatchObject({ type: 'reboot', host: s.label, action: 'reboot', requested_by: 'yamada', automatic: false, billable_yen: 20000, finished_at: null });
    expect(b.server(s.label)!.recovery).toMatchObject({ id: (r as { id: number }).id });
    const busy = await b.act({ type: 'restart', host: s.label, service: 'ssh' }, MON_10).catch((e) => e);
    expect(busy.detail).toBe('no_action'); // ssh is not a restartable service, busy or not
    const busy2 = await b.act({ type: 'reboot', host: s.label, consent: { customer_person: 'x', amount_yen: 20000 } }, MON_10).catch((e) => e);
    expect(busy2.detail).toBe('busy');
    expect((busy2.data as { recovery: { requested_by: string } }).recovery.requested_by).toBe('yamada');
    await sleep(250);
    expect(b.server(s.label)!.recovery).toBeNull();
    const events = msgs.filter((m) => m.type === 'event').map((m) => (m.type === 'event' ? m.event.event : ''));
    expect(events).toContain('recovery_started');
    expect(events).toContain('recovery_finished');
    const [last] = await b.recoveries(s.label, 1);
    expect(last).toMatchObject({ outcome: 'recovered', billable_yen: 20000 });
    const audit = await b.audit(20);
    expect(audit.verify.ok).toBe(true);
    expect(audit.entries.map((e) => e.kind)).toEqual(expect.arrayContaining(['recovery_started', 'spot_billed', 'recovery_finished']));
  });
  it('recovers an incident and closes it; refuses what the plan never includes', async () => {
    const b = new FakeBackend(60, { quiet: true, recoveryMs: 20 });
    const s = serverOf(b, (x) => (x.plan === '150' || x.plan === '200') && x.checks.some((c) => c.check === 'http'));
    const { setProblem } = await import('../src/lib/backend/fake');
    const i = b.fleet.servers.indexOf(s);
    b.fleet.servers[i] = setProblem(s, 'http', 4, MON_10);
    const id = b.fleet.servers[i].checks.find((c) => c.check === 'http')!.incident!;
    const r = await b.act({ type: 'recover', incident: id }, MON_10);
    expect(r).toMatchObject({ type: 'recover', action: 'restart:http', incident_id: id });
    await sleep(200);
    expect(b.server(s.label)!.checks.find((c) => c.check === 'http')!.incident).toBeNull();
    await expect(b.act({ type: 'recover', incident: id })).rejects.toMatchObject({ detail: 'closed' });
    await expect(b.act({ type: 'recover', incident: 999_999 })).rejects.toMatchObject({ detail: 'not_found' });
    const zero = serverOf(b, (x) => x.plan === 'zero');
    await expect(b.act({ type: 'reboot', host: zero.label })).rejects.toMatchObject({ detail: 'not_included' });
    const p60 = serverOf(b, (x) => x.plan === '60' && x.checks.some((c) => c.check !== 'ping' && c.check !== 'ssh' && !c.check.startsWith('custom')));
    const svc = p60.checks.find((c) => c.check !== 'ping' && c.check !== 'ssh' && !c.check.startsWith('custom'))!.check;
    await expect(b.act({ type: 'restart', host: p60.label, service: svc }, SAT_10)).rejects.toMatchObject({ detail: 'not_included' });
    await expect(b.act({ type: 'reboot', host: p60.label }, SAT_10)).rejects.toMatchObject({ detail: 'needs_consent' });
  });
  it('shows the prompts the engine would show', () => {
    expect(fakePrompt('zero', 'ping', MON_10, MON_10)?.code).toBe('not_included');
    expect(fakePrompt('30', 'ping', MON_10, MON_10)?.code).toBe('spot_only');
    expect(fakePrompt('30', 'http', MON_10, MON_10)?.code).toBe('not_included');
    expect(fakePrompt('60', 'http', SAT_10, SAT_10)?.code).toBe('outside_hours');
    expect(fakePrompt('60', 'ping', SAT_10, SAT_10)?.code).toBe('spot_only');
    expect(fakePrompt('150', 'ping', MON_10, MON_10 + 60_000)?.code).toBe('waiting');
    expect(fakePrompt('150', 'ping', MON_10, MON_10 + 20 * 60_000, { tried: true })?.code).toBe('already_tried');
    expect(fakePrompt('150', 'http', MON_10, MON_10)).toBeNull();
    expect(fakePrompt('150', 'http', MON_10, MON_10, { paused: true })?.code).toBe('paused');
    expect(fakePrompt('150', 'disk', MON_10, MON_10)).toBeNull();
  });
  it('shows a running recovery and prompts in the fleet it starts with', () => {
    const { servers } = makeFleet(60, 1, MON_10);
    expect(servers.some((s) => s.recovery !== null)).toBe(true);
    expect(servers.some((s) => s.checks.some((c) => c.incident !== null && c.prompt !== null))).toBe(true);
  });
});

describe('fake engine: phone escalation, consent, notes', () => {
  async function openIncident(b: FakeBackend) {
    const s = serverOf(b, (x) => x.checks.some((c) => c.incident !== null) && b.fleet.customers.find((c) => c.id === x.customer)!.phones.length > 0);
    return { s, id: s.checks.find((c) => c.incident !== null)!.incident! };
  }
  it('logs calls in order until every number failed, then sends the status report', async () => {
    const b = new FakeBackend(60, { quiet: true });
    const { id } = await openIncident(b);
    let e = await b.escalation(id);
    expect(e).toMatchObject({ answered: false, exhausted: false, calls: [], consented_yen: 0 });
    expect(e.status_report!.subject).toContain(`#${id}`);
    expect(e.status_report!.to.length).toBeGreaterThan(0);
    for (const [k, p] of e.customer!.phones.entries()) {
      const c = await b.act({ type: 'log_call', incident: id, number: p, outcome: k === 0 ? 'voicemail' : 'no_answer', notes: 'n' });
      expect(c).toMatchObject({ type: 'log_call', number: p, rings: 10, answered_by: null, operator: 'yamada' });
    }
    e = await b.escalation(id);
    expect(e.exhausted).toBe(true);
    expect(e.status_report!.body).toContain('留守電');
    const q = await b.act({ type: 'status_report', incident: id, subject: e.status_report!.subject, body: e.status_report!.body });
    expect(q).toMatchObject({ type: 'status_report', incident: id });
    expect((await b.escalation(id)).status_reports_sent).toBe(1);
    await b.act({ type: 'log_call', incident: id, number: e.customer!.phones[0], outcome: 'answered', answered_by: '山田様' });
    expect((await b.escalation(id)).answered).toBe(true);
    await expect(b.act({ type: 'log_call', incident: id, number: '', outcome: 'answered' })).rejects.toMatchObject({ detail: 'invalid' });
  });
  it('caps the first investigation consent at 50,000 yen', async () => {
    const b = new FakeBackend(60, { quiet: true });
    const { id } = await openIncident(b);
    const over = await b.act({ type: 'consent', incident: id, kind: 'investigation', amount_yen: 60000, customer_person: '佐藤様' }).catch((e) => e);
    expect(over).toBeInstanceOf(BackendError);
    expect(over.message).toContain('50000');
    await b.act({ type: 'consent', incident: id, kind: 'investigation', amount_yen: 30000, customer_person: '佐藤様' });
    await b.act({ type: 'consent', incident: id, kind: 'investigation', amount_yen: 60000, customer_person: '佐藤様', note: '再承諾' });
    expect((await b.escalation(id)).consented_yen).toBe(90000);
  });
  it('adds notes to the incident story', async () => {
    const b = new FakeBackend(60, { quiet: true });
    const { s, id } = await openIncident(b);
    const n = await b.act({ type: 'note', incident: id, text: ' 折り返し待ち ' });
    expect(n).toMatchObject({ type: 'note', text: '折り返し待ち', by: 'yamada' });
    const story = (await b.review({ server: s.label, open: true })).find((i) => i.id === id)!.story;
    expect(story.some((x) => x.kind === 'note_added' && x.detail.includes('折り返し待ち'))).toBe(true);
    await expect(b.act({ type: 'note', incident: id, text: '  ' })).rejects.toMatchObject({ detail: 'invalid' });
  });
  it('writes the status report from the calls', () => {
    const r = statusReport(
      { id: 5, host: 'web01', check: 'ping', trigger: 'web01 ping 疎通不可', opened_at: '2026-11-30T01:00:00Z' },
      { id: 'c1', name: 'サンプル株式会社', plan: '60', entitlements: {} as never, notify: ['a@example.jp'], phones: [] },
      [{ id: 1, incident_id: 5, number: '03-1', started_at: '2026-11-30T01:10:00Z', rings: 10, outcome: 'no_answer', answered_by: null, notes: '', operator: 'y' }],
    );
    expect(r.to).toEqual(['a@example.jp']);
    expect(r.subject).toBe('[Speever] web01 障害対応状況のご報告（#5）');
    expect(r.body).toContain('サンプル株式会社 ご担当者様');
    expect(r.body).toContain('2026/11/30 10:10:00 03-1（10回呼出）応答なし');
  });
});

describe('fake engine: maintenance pause', () => {
  it('pauses a server now, extends and ends it; tiles keep their live colours', async () => {
    const b = new FakeBackend(60, { quiet: true });
    const s = serverOf(b, (x) => x.worst_level === null && x.checks.every((c) => c.ok === true));
    const now = Date.now();
    const w = await b.act({ type: 'pause', scope: { kind: 'server', id: s.label }, minutes: 60, reason: 'カーネル更新' }, now);
    expect(w).toMatchObject({ type: 'pause', active: true, who: 'yamada', reason: 'カーネル更新' });
    const paused = b.server(s.label)!;
    expect(paused.maintenance).toMatchObject({ id: (w as { id: number }).id, reason: 'カーネル更新', by: 'yamada' });
    expect(tileState(paused)).toBe('maintenance');
    expect(liveState(paused)).toBe('ok');
    expect(fromSnapshot([paused], 1).order[0]).toMatchObject({ state: 'maintenance', live: 'ok' });
    const id = (w as { id: number }).id;
    const ext = await b.act({ type: 'extend_pause', maintenance: id, minutes: 30 }, now);
    expect(Date.parse((ext as { ends_at: string }).ends_at)).toBe(now + 90 * 60_000);
    expect(b.server(s.label)!.maintenance!.until).toBe((ext as { ends_at: string }).ends_at);
    const list = await b.maintenance();
    expect(list.find((x) => x.id === id)).toMatchObject({ active: true });
    await b.act({ type: 'end_pause', maintenance: id }, now + 1000);
    expect(b.server(s.label)!.maintenance).toBeNull();
    await expect(b.act({ type: 'end_pause', maintenance: id }, now + 2000)).rejects.toMatchObject({ detail: 'closed' });
    await expect(b.act({ type: 'pause', scope: { kind: 'server', id: s.label }, minutes: 30, reason: '' })).rejects.toMatchObject({ detail: 'invalid' });
    const kinds = (await b.audit(10)).entries.map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['maintenance_added', 'maintenance_extended', 'maintenance_ended']));
  });
  it('pauses every server of a customer; a scheduled window waits for its start', async () => {
    const b = new FakeBackend(60, { quiet: true });
    const cust = b.fleet.customers.find((c) => b.fleet.servers.filter((s) => s.customer === c.id && !s.maintenance).length >= 2)!;
    await b.act({ type: 'pause', scope: { kind: 'customer', id: cust.id }, minutes: 30, reason: 'r' });
    expect(b.fleet.servers.filter((s) => s.customer === cust.id).every((s) => s.maintenance !== null)).toBe(true);
    const later = Date.now() + 86_400_000;
    const other = serverOf(b, (x) => x.customer !== cust.id);
    const w = await b.act({ type: 'pause', scope: { kind: 'server', id: other.label }, starts_at: new Date(later).toISOString(), ends_at: new Date(later + 3_600_000).toISOString(), reason: 'r' });
    expect(w).toMatchObject({ active: false });
    expect(b.server(other.label)!.maintenance).toBeNull();
    b.tick(0, later + 60_000);
    expect(b.server(other.label)!.maintenance).not.toBeNull();
  });
  it('releases the held alert when a pause ends with the problem still there', async () => {
    const b = new FakeBackend(60, { quiet: true });
    const msgs: ConsoleMessage[] = [];
    b.subscribe((m) => msgs.push(m));
    const s = serverOf(b, (x) => x.checks.some((c) => c.incident !== null));
    const w = await b.act({ type: 'pause', scope: { kind: 'server', id: s.label }, minutes: 30, reason: 'r' });
    const paused = b.server(s.label)!;
    expect(paused.checks.filter((c) => c.incident !== null && c.prompt).every((c) => c.prompt!.code === 'paused')).toBe(true);
    // A paused server's incidents stay in its detail, not in the panel.
    expect(serverIncidents(paused).length).toBeGreaterThan(0);
    await b.act({ type: 'end_pause', maintenance: (w as { id: number }).id });
    await sleep(150);
    expect(msgs.some((m) => m.type === 'event' && m.event.event === 'alert_released' && m.event.host === s.label)).toBe(true);
  });
});

describe('the audit chain of the fake', () => {
  it('verifies, pages newest first, and notices a changed entry', () => {
    const a = new FakeAudit();
    for (let i = 0; i < 5; i++) a.append({ at: `2026-11-30T01:0${i}:00Z`, kind: 'note', actor: 'y', incident_id: 1, host: 'h', check: '', detail: `n${i}` });
    expect(a.verify()).toEqual({ ok: true, entries: 5, error: null });
    expect(a.page(2).map((e) => e.id)).toEqual([5, 4]);
    expect(a.page(2, 4).map((e) => e.id)).toEqual([3, 2]);
    a.entries[2] = { ...a.entries[2], detail: 'changed' };
    expect(a.verify()).toMatchObject({ ok: false, error: 'entry 3: hash mismatch' });
  });
});

describe('routes of the maintenance list and the audit log', () => {
  it('recognises /maintenance and /audit (and ?view=)', () => {
    expect(choose('http://127.0.0.1:8470/maintenance', false, 't')).toMatchObject({ maintenance: true, audit: false, review: false });
    expect(choose('http://127.0.0.1:8470/audit/', false, 't')).toMatchObject({ audit: true, maintenance: false });
    expect(choose('http://127.0.0.1:5173/?fake=60&view=audit', false, null)).toMatchObject({ audit: true });
    expect(choose('http://127.0.0.1:8470/', false, 't')).toMatchObject({ audit: false, maintenance: false });
  });
  it('links there and back', () => {
    expect(maintenanceHref('http://127.0.0.1:8470/?open=web01')).toBe('/maintenance');
    expect(auditHref('http://127.0.0.1:5173/?fake=60')).toBe('/?fake=60&view=audit');
    expect(operatorHref('http://127.0.0.1:8470/audit')).toBe('/');
    expect(operatorHref('http://127.0.0.1:5173/?fake=60&view=maintenance')).toBe('/?fake=60');
  });
});
