// What a browser run against the real engine found: operators from the log's `actor`, every kind
// the engine writes named in words, mail entries placed on their incident's server, the real
// outcome of each number's last call, UTC stamps inside details shown in JST, and the incidents
// of servers in maintenance listed (muted) in the panel.
import { describe, expect, it } from 'vitest';
import { kindLabel, operatorsOf, personOf, stepOperator } from '../src/lib/model/review';
import { auditKind, entryPlace, filterAudit, incidentPlaces } from '../src/lib/model/audit';
import { escalationState } from '../src/lib/model/escalation';
import { jstDateTime, jstStamps } from '../src/lib/model/duration';
import { compareIncidents, openIncidents, serverIncidents } from '../src/lib/model/incidents';
import { applyDelta, fromSnapshot } from '../src/lib/model/fleet';
import { blinks } from '../src/lib/model/levels';
import { setProblem } from '../src/lib/backend/fake';
import type { AuditEntry, AuditPage, ReviewIncident, ServerView, StoryStep } from '../src/lib/backend/types';
import { answer, exchange, feed, names, snapshot } from './replay';

const step = (kind: string, detail: string, actor: string | null = null): StoryStep => ({ at: '', kind, label: '', detail, actor });

describe('operators of an incident: the actor, else `by NAME`', () => {
  it('takes people from the actor and skips the engine, its rules and the export', () => {
    expect(personOf('yamada')).toBe('yamada');
    expect(personOf(' suzuki ')).toBe('suzuki');
    for (const a of ['engine', 'rule:auto-restart', 'rule:auto-reboot', 'export', '', '  ', null, undefined]) expect(personOf(a)).toBeNull();
    const story = [
      step('incident_opened', 'connection refused', 'engine'),
      step('recovery_started', 'recovery #3 restart:http of web01, automatic', 'rule:auto-restart'),
      // The engine's call detail does not start with "by": only the actor says who.
      step('call_logged', 'call #4 to 03-1111-1111 at 2026-11-29T19:38:09.123Z: no_answer, 10 rings, by tanaka', 'tanaka'),
      step('recovery_started', 'recovery #5 reboot of web01, by sato', 'sato'),
      step('acknowledged', 'by yamada: 電話中', 'yamada'),
      step('note', 'メモ', 'tanaka'),
      step('mail_queued', 'alert <x@y> to ops@example.jp', 'engine'),
    ];
    expect(operatorsOf({ story })).toEqual(['tanaka', 'sato', 'yamada']);
  });
  it('trusts the actor over the detail when the log recorded one', () => {
    // A step by the engine whose detail happens to start with "by": not an operator.
    expect(stepOperator(step('report_sent', 'by someone', 'engine'))).toBeNull();
    expect(stepOperator(step('acknowledged', 'by yamada', 'suzuki'))).toBe('suzuki');
  });
  it('falls back to `by NAME` for logs older than the actor (null, missing or empty)', () => {
    expect(stepOperator(step('acknowledged', 'by yamada: 電話中', null))).toBe('yamada');
    expect(stepOperator(step('acknowledged', 'by yamada', undefined))).toBe('yamada');
    expect(stepOperator(step('recovery_started', 'by sato, billable spot recovery 20,000 円', ''))).toBe('sato');
    expect(stepOperator(step('incident_opened', 'connection refused by 10.0.0.1:80', null))).toBeNull();
    expect(operatorsOf({ story: [step('note_added', 'by yamada'), step('acknowledged', 'by suzuki', 'suzuki'), step('note', 'x', 'yamada')] }))
      .toEqual(['yamada', 'suzuki']);
  });
  it('takes the operators from the actors of the story (null: before the audit log)', () => {
    const i: ReviewIncident = {
      id: 1, host: 'web01', check: 'http', level: 4, trigger: 't', opened_at: '', closed_at: null, duration_secs: null,
      customer: null, customer_name: null,
      story: [
        { at: 'a', kind: 'acknowledged', label: '確認（担当者）', detail: 'by yamada', actor: 'yamada' },
        { at: 'b', kind: 'incident_opened', label: '検知', detail: 'x', actor: null },
        { at: 'c', kind: 'recovery_started', label: '', detail: 'y', actor: 'rule:auto-restart' },
      ],
    };
    expect(i.story.map((s) => s.actor)).toEqual(['yamada', null, 'rule:auto-restart']);
    expect(operatorsOf(i)).toEqual(['yamada']);
  });
  it('finds the operators in the real engine\'s log', () => {
    // Recorded: yamada took web01's HTTP incident, noted and called; suzuki was refused.
    const rows = answer<ReviewIncident[]>('review');
    const steps = rows.flatMap((i) => i.story);
    expect(steps.every((s) => typeof s.actor === 'string' && s.actor !== '')).toBe(true);
    expect(steps.some((s) => personOf(s.actor) === null)).toBe(true); // the engine's own steps
    const id = answer<{ incident: number }>('acknowledge').incident;
    expect(operatorsOf(rows.find((i) => i.id === id)!)).toEqual([names.operator]);
  });
});

describe('every kind the engine writes has a name', () => {
  // grep of crates/anshin-engine/src for append_event / event_on / append_event_by (and the
  // audit chain's and the export's own entries).
  const ENGINE_KINDS = [
    'engine_started', 'engine_stopped', 'check_soft', 'check_hard', 'check_ok', 'incident_opened', 'incident_closed',
    'level_raised', 'level_lowered', 'mail_queued', 'mail_sent', 'mail_failed', 'alert_held', 'alert_released',
    'acknowledged', 'note', 'recovery_started', 'recovery_finished', 'spot_billed', 'recovery_needs_operator',
    'call_logged', 'consent_recorded', 'status_report_queued', 'maintenance_added', 'maintenance_ended',
    'maintenance_extended', 'report_drafted', 'report_sent', 'report_held', 'report_released', 'exported',
    'audit_chain_started',
  ];
  it.each(ENGINE_KINDS)('%s in Japanese and English', (k) => {
    expect(kindLabel(k, 'ja')).not.toBe(k);
    expect(kindLabel(k, 'en')).not.toBe(k);
    expect(kindLabel(k, 'ja')).toMatch(/[^\x00-\x7f]/); // Japanese words, not the kind
  });
  it('names the ones the audit view showed raw', () => {
    expect(auditKind('engine_started', 'ja').label).toBe('監視開始');
    expect(auditKind('engine_stopped', 'en').label).toBe('Monitoring stopped');
    expect(kindLabel('mail_queued', 'ja')).toBe('メール送信待ち');
    expect(kindLabel('check_hard', 'ja')).toBe('チェック失敗（確定）');
    expect(kindLabel('some_future_kind', 'ja')).toBe('some_future_kind');
  });
});

describe('audit: the server of an entry that carries only its incident', () => {
  const e = (id: number, kind: string, incident: number | null, host = '', check = '', detail = ''): AuditEntry => ({
    id, at: '2026-11-30T01:00:00Z', kind, actor: 'engine', incident_id: incident, host, check, detail, hash: 'h',
  });
  const entries = [
    e(1, 'incident_opened', 7, 'web01', 'http'),
    e(2, 'mail_queued', 7, '', '', 'alert <a@b> to ops@example.jp'),
    e(3, 'mail_sent', 7),
    e(4, 'mail_queued', 8), // incident 8: nothing else loaded names its server
    e(5, 'engine_started', null),
    e(6, 'acknowledged', 9, 'db01', ''),
    e(7, 'incident_opened', 9, 'db01', 'ping'),
    e(8, 'mail_failed', 9),
  ];
  const places = incidentPlaces(entries);
  it('finds the host (and check) from another entry of the same incident', () => {
    expect(places.get(7)).toEqual({ host: 'web01', check: 'http' });
    expect(places.get(9)).toEqual({ host: 'db01', check: 'ping' });
    expect(places.has(8)).toBe(false);
    expect(entryPlace(entries[1], places)).toEqual({ host: 'web01', check: 'http', derived: true });
    expect(entryPlace(entries[7], places)).toEqual({ host: 'db01', check: 'ping', derived: true });
  });
  it('keeps the entry\'s own host, and says none when there is neither', () => {
    expect(entryPlace(entries[0], places)).toEqual({ host: 'web01', check: 'http', derived: false });
    expect(entryPlace(entries[3], places)).toEqual({ host: '', check: '', derived: false });
    expect(entryPlace(entries[4], places)).toEqual({ host: '', check: '', derived: false });
  });
  it('filters by the derived host and by the JST form of a stamp', () => {
    expect(filterAudit(entries, 'web01', 'ja').map((x) => x.id)).toEqual([1, 2, 3]);
    const stamped = [e(10, 'call_logged', 7, 'web01', 'http', 'call #4 to 03-1 at 2026-11-29T19:38:09.123Z: busy')];
    expect(filterAudit(stamped, '2026/11/30 04:38', 'ja')).toHaveLength(1);
    expect(filterAudit(stamped, '2026-11-29T19:38', 'ja')).toHaveLength(1);
  });
  it('places the real engine\'s mail entries (they carry no host) on their incident\'s server', () => {
    const page = answer<AuditPage>('audit');
    const mail = page.entries.filter((x) => x.kind.startsWith('mail_'));
    expect(mail.length).toBeGreaterThan(0);
    expect(mail.every((x) => !x.host && x.incident_id !== null)).toBe(true);
    const where = incidentPlaces(page.entries);
    expect(mail.some((x) => entryPlace(x, where).derived)).toBe(true);
  });
});

describe('escalation: the real outcome of each number\'s last call in the round', () => {
  const phones = ['03-1111-1111', '090-2222-2222', '080-3333-3333'];
  const call = (number: string, minute: number, outcome: string) => ({ number, outcome, started_at: `2026-11-30T01:${String(minute).padStart(2, '0')}:00Z` });
  it('busy and voicemail are shown as such, not as no answer', () => {
    const s = escalationState(phones, [call(phones[0], 1, 'busy'), call(phones[1], 2, 'voicemail')]);
    expect(s.failed).toEqual([0, 1]);
    expect(s.last).toEqual(['busy', 'voicemail', null]);
  });
  it('takes the last call of a number called twice in the round', () => {
    const s = escalationState(phones, [call(phones[0], 1, 'busy'), call(phones[0], 3, 'no_answer')]);
    expect(s.last).toEqual(['no_answer', null, null]);
  });
  it('keeps the outcomes of the round that just ended (exhausted or answered)', () => {
    const ex = escalationState(phones, [call(phones[0], 1, 'busy'), call(phones[1], 2, 'voicemail'), call(phones[2], 3, 'no_answer')]);
    expect(ex).toMatchObject({ exhausted: true, failed: [], last: ['busy', 'voicemail', 'no_answer'] });
    const ans = escalationState(phones, [call(phones[0], 1, 'voicemail'), call(phones[1], 2, 'answered')]);
    expect(ans).toMatchObject({ answered: true, last: ['voicemail', 'answered', null] });
  });
  it('starts a new round with no outcomes', () => {
    const s = escalationState(phones, [
      call(phones[0], 1, 'busy'), call(phones[1], 2, 'busy'), call(phones[2], 3, 'busy'), call(phones[0], 9, 'voicemail'),
    ]);
    expect(s).toMatchObject({ round: 2, failed: [0], last: ['voicemail', null, null] });
    expect(escalationState([], []).last).toEqual([]);
    expect(escalationState(phones, [call('0120-000-000', 1, 'busy')]).last).toEqual([null, null, null]);
  });
});

describe('UTC stamps inside details shown in JST', () => {
  it('rewrites full RFC 3339 UTC stamps, with or without fractions', () => {
    expect(jstStamps('call #4 to 03-1111-1111 at 2026-11-29T19:38:09.123Z: no_answer'))
      .toBe('call #4 to 03-1111-1111 at 2026/11/30 04:38:09: no_answer');
    expect(jstStamps('2026-11-30T00:00:00Z')).toBe('2026/11/30 09:00:00');
    expect(jstStamps('at 2026-12-31T15:00:00.5Z.')).toBe('at 2027/01/01 00:00:00.');
    expect(jstStamps('x 2026-11-29T19:38:09.123456789Z y')).toBe('x 2026/11/30 04:38:09 y');
    expect(jstStamps('#3 web01 2026-11-30T01:00:00.000Z – 2026-11-30T03:00:00.000Z by yamada: カーネル更新'))
      .toBe('#3 web01 2026/11/30 10:00:00 – 2026/11/30 12:00:00 by yamada: カーネル更新');
    expect(jstStamps('(2026-11-30T01:00:00Z)')).toBe('(2026/11/30 10:00:00)');
    expect(jstStamps('2026-11-30T01:00:00Z')).toBe(jstDateTime('2026-11-30T01:00:00Z'));
  });
  it('leaves everything else as written', () => {
    for (const s of [
      '', 'OK', 'HTTP/1.1 503', 'load average 12.40, 11.02, 9.87',
      '2026-11-30', '19:38:09', '2026-11-30 01:00:00Z', // not full RFC 3339
      '2026-11-30T01:00:00+09:00', '2026-11-30T01:00:00.000+00:00', '2026-11-30T01:00Z', // other offsets, no seconds
      '2026-13-01T00:00:00Z', '2026-02-30T00:00:00Z', '2026-11-30T24:00:00Z', // not a time
      'id2026-11-30T01:00:00Z', '2026-11-30T01:00:00Zulu', '12026-11-30T01:00:00Z',
      '2026/11/30 10:00:00',
    ]) {
      expect(jstStamps(s)).toBe(s);
    }
  });
});

describe('incidents of servers in maintenance in the panel', () => {
  const server = (label: string, patch: Partial<ServerView> = {}): ServerView => ({
    label, role: 'server', customer: 'c1', customer_name: 'サンプル株式会社', plan: '150',
    ip: '127.77.0.2', fqdn: '', os: '',
    worst_level: null, problem_since: null, last_check_at: null, maintenance: null, recovery: null, acknowledged: false,
    checks: ['ping', 'ssh', 'http'].map((check) => ({
      check, ok: true, hard: false, failures: 0, detail: '', ms: 1, last_at: null, incident: null, level: null, since: null,
      acknowledged_by: null, suppressed: null, prompt: null, unknown: null,
    })),
    resources: [], resource_error: null, backup: null,
    actions: { restart: { code: 'ok' }, reboot: { code: 'ok' }, phone: { code: 'ok' }, pause: { code: 'ok' } }, ...patch,
  });
  const NOW = Date.parse('2026-11-30T01:00:00Z');
  const pause = { id: 3, until: '2026-11-30T03:00:00Z', reason: 'カーネル更新', by: 'yamada' };

  it('lists them after every other incident, marked, and leaves the counts as they were', () => {
    const down = setProblem(server('a'), 'http', 4, NOW - 60_000);
    const paused5 = setProblem({ ...server('p'), maintenance: pause }, 'ping', 5, NOW - 3_600_000);
    const pausedOk = { ...server('q'), maintenance: pause };
    const f = fromSnapshot([pausedOk, paused5, down, server('u', { checks: [] }), server('ok')], 1);
    const rows = openIncidents(f.order, new Map());
    expect(rows.map((r) => [r.host, r.level, r.maintenance])).toEqual([['a', 4, false], ['p', 5, true]]);
    // The counts stay those of maintenance: the paused Lv.5 server is counted there, not as Lv.5.
    expect(f.counts).toMatchObject({ '5': 0, '4': 1, maintenance: 2, unknown: 1, ok: 1 });
    // Its tile never blinks (its state is maintenance).
    expect(f.byLabel.get('p')).toMatchObject({ state: 'maintenance', live: '5' });
    expect(blinks(f.byLabel.get('p')!.state, false)).toBe(false);
  });
  it('sorts paused rows last whatever their level', () => {
    const rows = [
      { ...serverIncidents(setProblem({ ...server('p'), maintenance: pause }, 'ping', 5, NOW))[0] },
      { ...serverIncidents(setProblem(server('b'), 'ssh', 4, NOW))[0] },
    ];
    expect(rows.sort(compareIncidents).map((r) => r.host)).toEqual(['b', 'p']);
  });
  it('lists the real engine\'s paused server with an open incident (the screenshot case)', () => {
    // Recorded: mail02 paused, then its SMTP broke; the fleet as a console had it then.
    let f = fromSnapshot(snapshot.servers, snapshot.rev);
    for (const m of feed) {
      if (m.type !== 'delta') continue;
      f = applyDelta(f, m.servers, m.rev);
      if (m.servers.some((s) => s.label === 'mail02' && s.maintenance && s.worst_level !== null)) break;
    }
    expect(exchange('pause_server').body).toMatchObject({ scope: { id: 'mail02' } });
    const rows = openIncidents(f.order, new Map());
    expect(rows.find((r) => r.host === 'mail02')).toMatchObject({ maintenance: true });
    const paused = rows.filter((r) => r.maintenance);
    expect(paused.length).toBeGreaterThan(0);
    expect(paused.every((r) => f.byLabel.get(r.host)!.server.maintenance !== null)).toBe(true);
    expect(rows.findIndex((r) => r.maintenance)).toBe(rows.length - paused.length);
  });
});
