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
import { auditHref, choose, maintenanceHref, operatorHref } from '../src/lib/backend';
import { BackendError, type Action, type AuditPage, type Escalation, type MaintenanceWindow, type Recovery, type ServerView } from '../src/lib/backend/types';
import { busyText, describeError, errorText, promptText } from '../src/lib/model/actions';
import { escalationState } from '../src/lib/model/escalation';
import { answer, events, exchange, exchanges, feed, names, recoveryFeed, replay, snapshot } from './replay';
import { fromSnapshot } from '../src/lib/model/fleet';
import { liveState, tileState } from '../src/lib/model/levels';
import { serverIncidents } from '../src/lib/model/incidents';


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

// ------------------------------------------------------------------------------ the real engine's answers
// Recorded from `anshin demo` (tests/fixtures, scripts/record-fixtures.mjs) and played back through
// the UI's own HttpBackend: the requests must be the ones the engine answered.

const ops = replay; // the backend of a token: operator (yamada), other (suzuki), viewer
const refusal = (p: Promise<unknown>) => p.then(() => { throw new Error('answered, not refused'); }, (e) => e as BackendError);

function deltaWith(pred: (s: ServerView) => boolean): ServerView | undefined {
  for (const m of feed) if (m.type === 'delta') for (const s of m.servers) if (pred(s)) return s;
  return undefined;
}

describe('the engine\'s answers: recoveries', () => {
  afterEach(() => vi.unstubAllGlobals());
  it('refuses viewers', async () => {
    const { backend } = ops('viewer', ['reboot_viewer']);
    const e = await refusal(backend.act({ type: 'reboot', host: 'web02' }));
    expect(e).toBeInstanceOf(BackendError);
    expect(e.detail).toBe('forbidden');
  });
  it('asks for consent for a plan 30 reboot, then runs it, then is busy, then finishes', async () => {
    // The demo fleet has no reboot action: consent asked, then refused for that.
    const demo = ops('operator', ['reboot_needs_consent', 'reboot_low_consent', 'reboot_no_action']);
    expect((await refusal(demo.backend.act({ type: 'reboot', host: 'web02' }))).detail).toBe('needs_consent');
    // Below the spot minimum is no consent at all.
    expect((await refusal(demo.backend.act({ type: 'reboot', host: 'web02', consent: { customer_person: '山田様', amount_yen: 100 } }))).detail).toBe('needs_consent');
    const none = await refusal(demo.backend.act({ type: 'reboot', host: 'web02', consent: { customer_person: '山田様', amount_yen: 20000 } }));
    expect(none.detail).toBe('no_action');
    expect(none.message).toContain('reboot action');
    expect(demo.missed).toEqual([]);
    vi.unstubAllGlobals();
    // The same fleet with a reboot action for web02 (tests/fixtures/recovery.json): it runs.
    const { backend, missed } = ops('operator', ['recovery_reboot', 'recovery_busy', 'recovery_list']);
    const consent = { customer_person: '山田様', amount_yen: 20000 };
    const r = await backend.act({ type: 'reboot', host: 'web02', consent });
    expect(r).toMatchObject({ type: 'reboot', host: 'web02', action: 'reboot', requested_by: names.operator, automatic: false, billable_yen: 20000, finished_at: null });
    const id = (r as Recovery).id;
    const busy = await refusal(backend.act({ type: 'reboot', host: 'web02', consent }));
    expect(busy.detail).toBe('busy');
    expect((busy.data as { recovery: Recovery }).recovery).toMatchObject({ id, requested_by: names.operator });
    expect(busyText((busy.data as { recovery: Recovery }).recovery, busy.message, 'ja')).toContain(names.operator);
    // Its feed: the tile shows it running, then the start and the end.
    const running = recoveryFeed.flatMap((m) => (m.type === 'event' ? [] : m.servers)).find((s) => s.label === 'web02' && s.recovery?.id === id);
    expect(running?.recovery).toMatchObject({ action: 'reboot', requested_by: names.operator, automatic: false });
    const mine = recoveryFeed.flatMap((m) => (m.type === 'event' && (m.event.event === 'recovery_started' || m.event.event === 'recovery_finished') && m.event.id === id ? [m.event.event] : []));
    expect(mine).toEqual(['recovery_started', 'recovery_finished']);
    const [last] = await backend.recoveries('web02', 10);
    expect(missed).toEqual([]);
    expect(last).toMatchObject({ id, billable_yen: 20000 });
    expect(last.outcome).not.toBeNull();
    const audit = answer<AuditPage>('recovery_audit');
    expect(audit.verify.ok).toBe(true);
    expect(audit.entries.filter((e) => e.host === 'web02').map((e) => e.kind)).toEqual(expect.arrayContaining(['recovery_started', 'spot_billed', 'recovery_finished']));
  });
  it('refuses a closed or unknown incident, what the plan never includes and what cannot be done, each with its code', async () => {
    const { backend, missed } = ops('operator', ['recover_open', 'recover_closed', 'recover_unknown', 'reboot_plan_zero', 'restart_not_restartable']);
    const id = answer<{ incident: number }>('acknowledge').incident;
    // The demo fleet gives no SSH access: nothing to restart with.
    expect((await refusal(backend.act({ type: 'recover', incident: id }))).detail).toBe('no_action');
    expect((await refusal(backend.act({ type: 'recover', incident: id }))).detail).toBe('closed');
    expect((await refusal(backend.act({ type: 'recover', incident: 999_999 }))).detail).toBe('not_found');
    expect((await refusal(backend.act({ type: 'reboot', host: 'vps01' }))).detail).toBe('not_included');
    expect((await refusal(backend.act({ type: 'restart', host: 'web01', service: 'ssh' }))).detail).toBe('invalid');
    expect(missed).toEqual([]);
  });
  it('has words for every prompt and refusal code the engine sent', () => {
    const prompts = [snapshot, ...feed].flatMap((m) => (m.type === 'event' ? (m.event.event === 'recovery_prompt' && m.event.prompt ? [m.event.prompt] : []) : m.servers.flatMap((s) => s.checks.flatMap((c) => (c.prompt ? [c.prompt] : [])))));
    expect(prompts.length).toBeGreaterThan(0);
    for (const p of prompts) expect(promptText(p.code, 'ja')).not.toBe(p.code);
    const codes = exchanges.filter((x) => x.status >= 400).map((x) => (x.json as { code: string }).code);
    expect(codes).toEqual(expect.arrayContaining(['needs_consent', 'busy', 'closed', 'not_found', 'not_included', 'invalid', 'forbidden']));
    for (const c of codes) expect(errorText(c, '', 'ja')).not.toBe(c);
  });
});

describe('the engine\'s answers: phone escalation, consent, notes', () => {
  afterEach(() => vi.unstubAllGlobals());
  const id = () => answer<{ incident: number }>('acknowledge').incident;
  it('logs calls in order until every number failed, then sends the status report', async () => {
    const { backend, missed } = ops('operator');
    let e = await backend.escalation(id());
    expect(e).toMatchObject({ answered: false, exhausted: false, calls: [], consented_yen: 0 });
    expect(e.status_report!.subject).toContain('web01');
    expect(e.status_report!.to).toEqual(e.customer!.notify);
    const phones = e.customer!.phones;
    expect(phones.length).toBeGreaterThan(1);
    // What the panel shows beside each number agrees with the engine's round.
    expect(escalationState(phones, e.calls)).toMatchObject({ answered: false, exhausted: false, next: 0 });
    for (const [k, p] of phones.entries()) {
      const c = await backend.act({ type: 'log_call', incident: id(), number: p, outcome: k === 0 ? 'voicemail' : 'no_answer', notes: 'n' });
      expect(c).toMatchObject({ type: 'log_call', number: p, rings: 10, answered_by: null, operator: names.operator });
    }
    expect((await refusal(backend.act({ type: 'log_call', incident: id(), number: '', outcome: 'answered' }))).detail).toBe('invalid');
    e = await backend.escalation(id());
    expect(e).toMatchObject({ exhausted: true, answered: false, next_number: null });
    expect(escalationState(phones, e.calls)).toMatchObject({ exhausted: true, answered: false, last: ['voicemail', ...phones.slice(1).map(() => 'no_answer')] });
    const q = await backend.act({ type: 'status_report', incident: id(), subject: e.status_report!.subject, body: e.status_report!.body });
    expect(q).toMatchObject({ type: 'status_report', incident: id() });
    expect(missed).toEqual([]);
    const after = answer<Escalation>('escalation_answered');
    expect(after).toMatchObject({ answered: true, status_reports_sent: 1 });
    expect(escalationState(phones, after.calls)).toMatchObject({ answered: true });
  });
  it('records each consent with its cause; beyond 50,000 yen only after an answered call following the latest consent', async () => {
    const { backend, missed } = ops('operator', ['consent_no_cause', 'consent_over_cap', 'consent', 'consent_again_no_call', 'log_call_answered', 'consent_again']);
    const c = { type: 'consent' as const, incident: id(), kind: 'investigation', customer_person: '佐藤様' };
    // No cause: refused, naming the four.
    const noCause = await refusal(backend.act({ ...c, amount_yen: 30000 } as unknown as Action));
    expect(noCause.detail).toBe('invalid');
    expect(noCause.message).toContain('customer_change, traffic_surge, attack, other');
    // Beyond the quote with no answered call (the calls so far went unanswered): needs_call.
    const over = await refusal(backend.act({ ...c, amount_yen: 60000, cause: 'traffic_surge' }));
    expect(over).toBeInstanceOf(BackendError);
    expect(over.detail).toBe('needs_call');
    expect(over.message).toMatch(/50,000/);
    expect(describeError(over, 'ja')).toMatch(/^承諾済みの金額を超えています/);
    const first = await backend.act({ ...c, amount_yen: 30000, cause: 'traffic_surge' });
    expect(first).toMatchObject({ type: 'consent', amount_yen: 30000, cause: 'traffic_surge' });
    expect(answer<Escalation>('escalation_consented')).toMatchObject({ consented_yen: 30000, consent_without_call_yen: 50000 });
    expect((await refusal(backend.act({ ...c, amount_yen: 60000, note: '再承諾', cause: 'traffic_surge' }))).detail).toBe('needs_call');
    // The customer answers a call after that consent: the larger amount is recorded.
    const customers = answer<{ id: string; phones: string[] }[]>('customers');
    const number = customers.find((x) => x.id === 'c1001')?.phones[0] ?? '03-0000-0001';
    await backend.act({ type: 'log_call', incident: id(), number, outcome: 'answered', answered_by: '山田様' });
    await backend.act({ ...c, amount_yen: 60000, note: '再承諾', cause: 'traffic_surge' });
    expect(missed).toEqual([]);
    const after = answer<Escalation>('escalation_answered');
    expect(after.consented_yen).toBe(60000);
    expect(after.consents.map((x) => x.cause)).toEqual(['traffic_surge', 'traffic_surge']);
  });
  it('adds notes to the incident story', async () => {
    const { backend, missed } = ops('operator', ['note', 'note_empty', 'review_text']);
    const n = await backend.act({ type: 'note', incident: id(), text: '折り返し待ち' });
    expect(n).toMatchObject({ type: 'note', text: '折り返し待ち', by: names.operator });
    expect((await refusal(backend.act({ type: 'note', incident: id(), text: '  ' }))).detail).toBe('invalid');
    const story = (await backend.review({ text: '折り返し' })).find((i) => i.id === id())!.story;
    expect(story.some((x) => x.detail.includes('折り返し待ち') && x.actor === names.operator)).toBe(true);
    expect(missed).toEqual([]);
  });
});

describe('the engine\'s answers: maintenance pause', () => {
  afterEach(() => vi.unstubAllGlobals());
  it('pauses a server now, extends and ends it; tiles keep their live colours', async () => {
    const { backend, missed } = ops('operator', ['pause_web03', 'extend_pause', 'maintenance_list_active', 'end_pause', 'end_pause_again', 'pause_invalid']);
    const w = (await backend.act({ type: 'pause', scope: { kind: 'server', id: 'web03' }, minutes: 60, reason: 'OS アップデート作業' })) as MaintenanceWindow;
    expect(w).toMatchObject({ type: 'pause', active: true, who: names.operator, reason: 'OS アップデート作業' });
    const paused = deltaWith((s) => s.label === 'web03' && s.maintenance?.id === w.id)!;
    expect(paused.maintenance).toMatchObject({ reason: 'OS アップデート作業', by: names.operator });
    expect(tileState(paused)).toBe('maintenance');
    expect(liveState(paused)).toBe('ok');
    expect(fromSnapshot([paused], 1).order[0]).toMatchObject({ state: 'maintenance', live: 'ok' });
    const ext = (await backend.act({ type: 'extend_pause', maintenance: w.id, minutes: 30 })) as MaintenanceWindow;
    expect(Date.parse(ext.ends_at) - Date.parse(w.ends_at)).toBe(30 * 60_000);
    // The tile's "〜HH:MM" follows: the server's view has the window's new end at once.
    expect(answer<ServerView>('server_detail_extended').maintenance).toMatchObject({ id: w.id, until: ext.ends_at });
    expect((await backend.maintenance()).find((x) => x.id === w.id)).toMatchObject({ active: true });
    await backend.act({ type: 'end_pause', maintenance: w.id });
    expect((await refusal(backend.act({ type: 'end_pause', maintenance: w.id }))).detail).toBe('invalid');
    expect((await refusal(backend.act({ type: 'pause', scope: { kind: 'server', id: 'web03' }, minutes: 30, reason: '' }))).detail).toBe('invalid');
    expect(missed).toEqual([]);
    const kinds = answer<AuditPage>('audit').entries.filter((e) => e.host === 'web03').map((e) => e.kind);
    expect(kinds).toEqual(expect.arrayContaining(['maintenance_added', 'maintenance_extended', 'maintenance_ended']));
  });
  it('pauses every server of a customer; a scheduled window waits for its start', async () => {
    const customer = snapshot.servers.filter((s) => s.customer === 'c1002').map((s) => s.label);
    expect(customer.length).toBeGreaterThanOrEqual(2);
    const w = answer<MaintenanceWindow>('pause_customer');
    for (const label of customer) expect(deltaWith((s) => s.label === label && s.maintenance?.id === w.id)).toBeDefined();
    const later = answer<MaintenanceWindow>('pause_customer_later');
    expect(later).toMatchObject({ active: false, scope: { kind: 'customer', id: 'c1006' } });
    expect(deltaWith((s) => s.maintenance?.id === later.id)).toBeUndefined();
    expect(answer<MaintenanceWindow[]>('maintenance_list').find((x) => x.id === later.id)).toMatchObject({ active: false });
  });
  it('releases the held alert when a pause ends with the problem still there', async () => {
    const w = answer<MaintenanceWindow>('pause_server');
    const paused = deltaWith((s) => s.label === 'mail02' && s.maintenance?.id === w.id && s.worst_level !== null)!;
    expect(paused).toBeDefined();
    const opened = events().find((e) => e.event === 'incident_opened' && e.host === 'mail02');
    expect(opened).toMatchObject({ paused: true });
    // A paused server's incidents stay in its detail (and the panel, muted).
    expect(serverIncidents(paused).length).toBeGreaterThan(0);
    expect(exchange('end_pause_with_problem').status).toBe(200);
    expect(events().some((e) => e.event === 'alert_released' && e.host === 'mail02' && e.id === (opened as { id: number }).id)).toBe(true);
  });
});

describe('the engine\'s audit log', () => {
  afterEach(() => vi.unstubAllGlobals());
  it('verifies, pages newest first', async () => {
    const all = answer<AuditPage>('audit');
    expect(all.verify).toMatchObject({ ok: true, error: null });
    const ids = all.entries.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    const before = Number(new URL(exchange('audit_page').path, 'http://x').searchParams.get('before'));
    const { backend, missed } = ops('operator', ['audit_page']);
    const page = await backend.audit(5, before);
    expect(missed).toEqual([]);
    expect(page.entries.map((e) => e.id)).toEqual(ids.filter((i) => i < before).slice(0, 5));
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
