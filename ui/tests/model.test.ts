import { describe, expect, it } from 'vitest';
import { makeFleet, setProblem, FakeBackend } from '../src/lib/backend/fake';
import { end, feed, snapshot } from './replay';
import type { Health, ServerView } from '../src/lib/backend/types';
import { applyDelta, compareEntries, entry, fromSnapshot, withTelemetry } from '../src/lib/model/fleet';
import { COLOR, ICON, INK, RANK, STATES_BY_SEVERITY, blinks, tileState } from '../src/lib/model/levels';
import { elapsedMs, formatDuration, jstDateTime, jstTime } from '../src/lib/model/duration';
import { wallLayout } from '../src/lib/model/wall';
import { openIncidents, compareIncidents, type IncidentRow } from '../src/lib/model/incidents';
import { applyFilter, NO_FILTER } from '../src/lib/model/filter';
import { moveIndex } from '../src/lib/model/keys';
import { healthState } from '../src/lib/model/health';
import { suppressionText, clean, checkName } from '../src/lib/model/names';
import { chartPath } from '../src/lib/model/chart';

const NOW = Date.parse('2026-11-25T12:00:00Z');

function server(label: string, patch: Partial<ServerView> = {}): ServerView {
  return {
    label, role: 'server', customer: 'c1', customer_name: 'サンプル株式会社', plan: '150',
    ip: '127.77.0.2', fqdn: `${label}.example.jp`, os: 'Debian 12',
    worst_level: null, problem_since: null, last_check_at: '2026-11-25T11:59:00Z', maintenance: null, recovery: null, acknowledged: false,
    checks: [{ check: 'ping', ok: true, hard: false, failures: 0, detail: '', ms: 1, last_at: null, incident: null, level: null, since: null, acknowledged_by: null, suppressed: null, prompt: null, unknown: null }],
    resources: [], resource_error: null, backup: null,
    actions: { restart: { code: 'ok' }, reboot: { code: 'ok' }, phone: { code: 'ok' }, pause: { code: 'ok' } }, ...patch,
  };
}

describe('tile state and level colours', () => {
  it.each([
    [server('a'), 'ok'],
    [server('a', { worst_level: 2 }), '2'],
    [server('a', { worst_level: 5 }), '5'],
    [server('a', { worst_level: 4, maintenance: { id: 1, until: null, reason: 'x', by: 'y' } }), 'maintenance'],
    [server('a', { checks: [] }), 'unknown'],
    [server('a', { checks: [{ ...server('a').checks[0], ok: null }] }), 'unknown'],
    // The last attempt failed on the NOC's side: unknown, not OK and not a problem.
    [server('a', { checks: [{ ...server('a').checks[0], unknown: 'local failure: Too many open files' }] }), 'unknown'],
    [server('a', { worst_level: 4, checks: [{ ...server('a').checks[0], unknown: 'local failure' }] }), '4'],
  ])('%#: %s', (s, want) => expect(tileState(s)).toBe(want));

  it('gives every state its own colour, icon and readable ink', () => {
    expect(new Set(STATES_BY_SEVERITY.map((s) => COLOR[s])).size).toBe(STATES_BY_SEVERITY.length);
    expect(new Set(STATES_BY_SEVERITY.map((s) => ICON[s])).size).toBe(STATES_BY_SEVERITY.length);
    expect(INK['2']).toBe('#1b1b1b'); // dark text on yellow
    expect(COLOR['4']).toBe('#e03a3a');
    expect(COLOR['5']).not.toBe(COLOR['4']);
  });

  it('orders severity 5 > 4 > 3 > 2 > unknown > maintenance > ok', () => {
    const ranks = STATES_BY_SEVERITY.map((s) => RANK[s]);
    expect([...ranks].sort((a, b) => b - a)).toEqual(ranks);
  });

  it('blinks Lv.5 only until acknowledged', () => {
    expect(blinks('5', false)).toBe(true);
    expect(blinks('5', true)).toBe(false);
    expect(blinks('4', false)).toBe(false);
  });
});

describe('fleet: telemetry read beside the feed', () => {
  const ping = server('a').checks[0];
  it('takes response and check times, never the state', () => {
    const f = fromSnapshot([server('a', { checks: [{ ...ping, ok: false, failures: 1, detail: 'no echo reply' }] })], 7);
    // An older answer: the check was still OK then.
    const fresh = server('a', { last_check_at: '2026-11-25T12:00:05Z', checks: [{ ...ping, ok: true, ms: 0.4, last_at: '2026-11-25T12:00:05Z', detail: 'echo reply in 0.4 ms' }] });
    const g = withTelemetry(f, fresh);
    const c = g.byLabel.get('a')!.server.checks[0];
    expect([c.ok, c.failures, c.detail]).toEqual([false, 1, 'no echo reply']);
    expect([c.ms, c.last_at]).toEqual([0.4, '2026-11-25T12:00:05Z']);
    expect(g.rev).toBe(7);
    expect(g.byLabel.get('a')!.server.last_check_at).toBe('2026-11-25T12:00:05Z');
    // An OK check takes the fresh detail; an unknown server changes nothing.
    const ok = withTelemetry(fromSnapshot([server('a')], 1), fresh);
    expect(ok.byLabel.get('a')!.server.checks[0].detail).toBe('echo reply in 0.4 ms');
    expect(withTelemetry(f, server('zz'))).toBe(f);
  });
});

describe('fleet: snapshot and delta merge', () => {
  // 300 servers made from the real engine's recorded snapshot (the perf page's generator).
  const servers = makeFleet(snapshot.servers, 300, 3, NOW);

  it('sorts worst first, oldest problem first, then by label (numeric)', () => {
    const f = fromSnapshot([
      server('web10'), server('web9'),
      server('b', { worst_level: 4, problem_since: '2026-11-25T11:00:00Z' }),
      server('a', { worst_level: 4, problem_since: '2026-11-25T11:30:00Z' }),
      server('z', { worst_level: 5, problem_since: '2026-11-25T11:50:00Z' }),
      server('m', { maintenance: { id: 1, until: null, reason: '', by: '' } }),
      server('u', { checks: [] }),
    ], 1);
    expect(f.order.map((e) => e.server.label)).toEqual(['z', 'b', 'a', 'u', 'm', 'web9', 'web10']);
    expect(f.counts).toMatchObject({ '5': 1, '4': 2, unknown: 1, maintenance: 1, ok: 2 });
  });

  it('gives the same order and counts as a full re-sort after many random deltas', async () => {
    const fake = new FakeBackend(300, { quiet: true }, 5, snapshot);
    await fake.ready;
    let f = fromSnapshot(fake.servers, 1);
    let opened = 0;
    for (let i = 0; i < 200; i++) {
      const { delta, events } = fake.tick(15, NOW + i * 1000);
      if (delta.type !== 'delta') throw new Error('delta expected');
      opened += events.filter((e) => e.type === 'event' && e.event.event === 'incident_opened').length;
      f = applyDelta(f, delta.servers, delta.rev);
    }
    expect(opened).toBeGreaterThan(0); // the order did change
    const full = fromSnapshot(fake.servers, f.rev);
    expect(f.order.map((e) => e.server.label)).toEqual(full.order.map((e) => e.server.label));
    expect(f.counts).toEqual(full.counts);
    expect(f.byLabel.size).toBe(full.byLabel.size);
  });

  it('merges the real engine\'s deltas into what a new console\'s snapshot shows', () => {
    // The recording: one console's first snapshot and every delta after it, and the snapshot a
    // second console got at the end (the first had every delta up to its rev by then).
    let f = fromSnapshot(snapshot.servers, snapshot.rev);
    let merged = 0;
    for (const m of feed) {
      if (m.type !== 'delta' || m.rev > end.rev) continue;
      f = applyDelta(f, m.servers, m.rev);
      merged += m.servers.length;
    }
    expect(merged).toBeGreaterThan(0);
    const full = fromSnapshot(end.servers, end.rev);
    expect(f.rev).toBe(end.rev);
    expect(f.order.map((e) => [e.server.label, e.state])).toEqual(full.order.map((e) => [e.server.label, e.state]));
    expect(f.counts).toEqual(full.counts);
    // The recording saw problems come and go, so the picture did change on the way.
    expect(fromSnapshot(snapshot.servers, 1).order.map((e) => e.state)).not.toEqual(full.order.map((e) => e.state));
  });

  it('replaces only the changed servers and shares every other object', () => {
    const f1 = fromSnapshot(servers, 1);
    const target = servers[50];
    const changed = setProblem(target, target.checks[0].check, 5, NOW);
    const f2 = applyDelta(f1, [changed], 2);
    expect(f2).not.toBe(f1);
    expect(f2.order).not.toBe(f1.order);
    expect(f1.byLabel.get(target.label)!.server).toBe(target); // old fleet untouched
    expect(f2.byLabel.get(target.label)!.server).toBe(changed);
    let shared = 0;
    for (const e of f2.order) if (f1.byLabel.get(e.server.label) === e) shared++;
    expect(shared).toBe(servers.length - 1);
    expect(f2.order[0].state).toBe('5');
    expect(f2.rev).toBe(2);
  });

  it('adds servers a delta names for the first time', () => {
    const f = applyDelta(fromSnapshot([server('a')], 1), [server('b', { worst_level: 3, problem_since: '2026-11-25T11:00:00Z' })], 2);
    expect(f.order.map((e) => e.server.label)).toEqual(['b', 'a']);
    expect(f.counts['3']).toBe(1);
  });

  it('keeps the same fleet object for an empty delta of the same rev', () => {
    const f = fromSnapshot([server('a')], 1);
    expect(applyDelta(f, [], 1)).toBe(f);
  });

  it('compares every pair consistently (a total order)', () => {
    const es = servers.slice(0, 60).map(entry);
    for (const a of es) for (const b of es) if (a !== b) expect(Math.sign(compareEntries(a, b))).toBe(-Math.sign(compareEntries(b, a)));
  });
});

describe('durations and JST', () => {
  it.each([
    [0, '0秒', '0 s'],
    [59_000, '59秒', '59 s'],
    [12 * 60_000 + 30_000, '12分', '12 min'],
    [3 * 3_600_000, '3時間', '3 h'],
    [3 * 3_600_000 + 5 * 60_000, '3時間5分', '3 h 5 min'],
    [26 * 3_600_000, '1日2時間', '1 d 2 h'],
    [48 * 3_600_000, '2日', '2 d'],
  ])('%i ms', (ms, ja, en) => {
    expect(formatDuration(ms, 'ja')).toBe(ja);
    expect(formatDuration(ms, 'en')).toBe(en);
  });

  it('measures from an ISO time, never negative', () => {
    expect(elapsedMs('2026-11-25T11:48:00Z', NOW)).toBe(12 * 60_000);
    expect(elapsedMs('2026-11-25T12:00:05Z', NOW)).toBe(0);
    expect(elapsedMs(null, NOW)).toBeNull();
    expect(elapsedMs('garbage', NOW)).toBeNull();
    expect(formatDuration(null, 'ja')).toBe('');
  });

  it('shows Asia/Tokyo', () => {
    expect(jstTime('2026-11-25T15:04:05Z')).toBe('00:04:05');
    expect(jstDateTime('2026-11-25T15:04:05Z')).toBe('2026/11/26 00:04:05');
    expect(jstTime(null)).toBe('--:--:--');
  });
});

describe('wall layout', () => {
  const fits = (w: number, h: number, problems: number, others: number) => {
    const L = wallLayout({ width: w, height: h, problems, others });
    const ph = L.problem.rows ? L.problem.rows * (L.problem.h + L.gap) - L.gap : 0;
    const sh = L.small.rows ? L.small.rows * (L.small.size + 4) - 4 : 0;
    return { L, total: ph + L.sectionGap + sh };
  };

  it('fits 500 servers with a few problems on 1920×1080, problems legible from 3 m', () => {
    const { L, total } = fits(1888, 900, 12, 488);
    expect(L.fits).toBe(true);
    expect(total).toBeLessThanOrEqual(900);
    expect(L.problem.label).toBeGreaterThanOrEqual(24);
    expect(L.problem.w).toBeGreaterThan(L.small.size * 3);
    expect(L.small.size).toBeGreaterThanOrEqual(20);
  });

  it('fits 500 servers with many problems', () => {
    const { L, total } = fits(1888, 900, 60, 440);
    expect(L.fits).toBe(true);
    expect(total).toBeLessThanOrEqual(900);
    expect(L.problem.label).toBeGreaterThanOrEqual(24);
  });

  it('grows healthy squares (with labels) when the fleet is small and healthy', () => {
    const { L } = fits(1888, 900, 0, 40);
    expect(L.small.size).toBe(120);
    expect(L.small.label).toBeGreaterThan(0);
  });

  it('shrinks problem tiles as problems grow, never growing them', () => {
    let last = Infinity;
    for (const n of [1, 5, 20, 50, 100, 200]) {
      const { L } = fits(1888, 900, n, 500 - n);
      expect(L.problem.w).toBeLessThanOrEqual(last);
      last = L.problem.w;
    }
  });

  it('says so when nothing fits', () => {
    expect(wallLayout({ width: 300, height: 200, problems: 400, others: 10_000 }).fits).toBe(false);
  });

  it.each([[1, 0], [0, 1], [0, 0], [3, 2000]])('handles %i problems and %i others', (p, o) => {
    const L = wallLayout({ width: 1888, height: 900, problems: p, others: o });
    expect(L.problem.w).toBeGreaterThan(0);
    expect(L.small.size).toBeGreaterThan(0);
  });
});

describe('incident panel rows', () => {
  it('sorts by level (highest first), then age (oldest first)', () => {
    const rows: IncidentRow[] = [
      { id: 1, key: 'i1', host: 'a', check: 'http', level: 4, since: 300, sinceIso: null, trigger: null, acknowledgedBy: null, prompt: null, maintenance: false },
      { id: 2, key: 'i2', host: 'b', check: 'ping', level: 5, since: 500, sinceIso: null, trigger: null, acknowledgedBy: null, prompt: null, maintenance: false },
      { id: 3, key: 'i3', host: 'c', check: 'ssh', level: 4, since: 100, sinceIso: null, trigger: null, acknowledgedBy: null, prompt: null, maintenance: false },
      { id: 4, key: 'i4', host: 'd', check: 'ping', level: 5, since: 200, sinceIso: null, trigger: null, acknowledgedBy: null, prompt: null, maintenance: false },
    ];
    expect(rows.sort(compareIncidents).map((r) => r.id)).toEqual([4, 2, 3, 1]);
  });

  it('derives open incidents from the views and names them from the incident list', () => {
    const a = setProblem(server('a', { checks: [...server('a').checks, { ...server('a').checks[0], check: 'http' }] }), 'http', 4, NOW);
    const b = setProblem(server('b'), 'ping', 5, NOW - 60_000);
    const f = fromSnapshot([a, b, server('c')], 1);
    const id = a.checks.find((c) => c.check === 'http')!.incident!;
    const rows = openIncidents(f.order, new Map([[id, { id, host: 'a', check: 'http', level: 4, trigger: 'a HTTP サービスダウン', opened_at: '', closed_at: null, events: [] }]]));
    expect(rows.map((r) => [r.host, r.check, r.level])).toEqual([['b', 'ping', 5], ['a', 'http', 4]]);
    expect(rows[1].trigger).toBe('a HTTP サービスダウン');
  });
});

describe('filters', () => {
  const f = fromSnapshot([
    server('web01', { customer: 'c1', plan: '150' }),
    server('db01', { customer: 'c2', plan: '30', ip: '127.77.9.9', worst_level: 3, problem_since: '2026-11-25T11:00:00Z' }),
    server('mail01', { customer: 'c2', plan: '30', worst_level: 5, problem_since: '2026-11-25T11:00:00Z' }),
  ], 1);
  const labels = (filter: Partial<typeof NO_FILTER>) => applyFilter(f.order, { ...NO_FILTER, ...filter }).map((e) => e.server.label);

  it('returns the same list when nothing filters', () => expect(applyFilter(f.order, NO_FILTER)).toBe(f.order));
  it('by customer', () => expect(labels({ customer: 'c2' })).toEqual(['mail01', 'db01']));
  it('by plan', () => expect(labels({ plan: '150' })).toEqual(['web01']));
  it('problems only', () => expect(labels({ level: 'problems' })).toEqual(['mail01', 'db01']));
  it('at least Lv.4', () => expect(labels({ level: '4' })).toEqual(['mail01']));
  it('text over label, customer name, fqdn, ip', () => {
    expect(labels({ text: '127.77.9' })).toEqual(['db01']);
    expect(labels({ text: 'WEB01.example' })).toEqual(['web01']);
    expect(labels({ text: 'サンプル db' })).toEqual(['db01']);
  });
});

describe('keyboard movement', () => {
  it.each([
    [0, 'ArrowRight', 1], [9, 'ArrowRight', 9], [0, 'ArrowLeft', 0], [0, 'ArrowDown', 4],
    [8, 'ArrowDown', 8], [5, 'ArrowUp', 1], [1, 'ArrowUp', 1], [5, 'Home', 0], [5, 'End', 9], [5, 'x', null],
  ])('from %i with %s', (i, key, want) => expect(moveIndex(i, key, 10, 4)).toBe(want));
});

describe('engine health', () => {
  const h: Health = {
    started_at: '2026-11-25T10:00:00Z', last_cycle_at: '2026-11-25T11:59:00Z', outbox_backlog: 0, checks: 10, interval_secs: 60,
    alarms: [], probe_lag_p99_ms: null, probe_lag_p50_ms: null, attempts_decided: 0, slots_skipped: 0, consoles: { connected: 1, snapshots_sent: 1, snapshots_built: 1, dropped: 0 }, business_hours: true, fleet_errors: [],
  };
  it('is fine with a recent cycle', () => expect(healthState(h, false, NOW).bad).toBe(false));
  it('is bad when the last cycle is older than 3 intervals', () =>
    expect(healthState({ ...h, last_cycle_at: '2026-11-25T11:56:59Z' }, false, NOW).reason).toBe('cycle_late'));
  it('follows the interval the engine reports', () =>
    expect(healthState({ ...h, last_cycle_at: '2026-11-25T11:56:59Z', interval_secs: 120 }, false, NOW).bad).toBe(false));
  it('is bad when stale', () => expect(healthState(h, true, NOW).reason).toBe('stale'));
});

describe('names', () => {
  it('says why a check is suppressed', () => {
    expect(suppressionText('gateway_down:gw-a', 'ja')).toContain('ゲートウェイ gw-a');
    expect(suppressionText('host_unreachable', 'en')).toContain('ping');
    expect(suppressionText(null, 'ja')).toBe('');
  });
  it('names checks', () => {
    expect(checkName('custom:app', 'ja')).toBe('app');
    expect(checkName('postgresql', 'ja')).toBe('PostgreSQL');
  });
  it('strips terminal escapes and control characters', () => expect(clean('a\x1b[31mb\x07c')).toBe('ab c'));
});

describe('charts', () => {
  it('draws a path inside the box, with thresholds only near the data', () => {
    const samples = [0, 1, 2, 3].map((i) => ({ host: 'a', resource: 'disk', at: new Date(NOW - (3 - i) * 3_600_000).toISOString(), value: 80 + i * 4 }));
    const g = chartPath(samples, { width: 300, height: 90, now: NOW, hours: 24, thresholds: [80, 90, 95] })!;
    expect(g.line.startsWith('M')).toBe(true);
    expect(g.thresholds.map((t) => t.value)).toEqual([80, 90, 95]);
    const low = chartPath(samples.map((s) => ({ ...s, value: 10 })), { width: 300, height: 90, now: NOW, hours: 24, thresholds: [80, 90, 95] })!;
    expect(low.thresholds).toEqual([]);
    expect(chartPath([], { width: 300, height: 90, now: NOW, hours: 24 })).toBeNull();
  });
});
