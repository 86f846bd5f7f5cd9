import { describe, expect, it } from 'vitest';
import { choose } from '../src/lib/backend';
import { backoffMs } from '../src/lib/backend/http';
import * as normalize from '../src/lib/backend/normalize';
import { makeFleet } from '../src/lib/backend/fake';

describe('backend choice', () => {
  it('uses Tauri inside the app window', () => {
    expect(choose('tauri://localhost/', true, null).choice.kind).toBe('tauri');
  });
  it('takes the token from the URL, then removes it from the address bar', () => {
    const c = choose('http://127.0.0.1:8080/wall?token=abcdefghijklmnop&x=1#h', false, null);
    expect(c.choice).toEqual({ kind: 'http', origin: 'http://127.0.0.1:8080', token: 'abcdefghijklmnop' });
    expect(c.newToken).toBe('abcdefghijklmnop');
    expect(c.cleanUrl).toBe('/wall?x=1#h');
    expect(c.wall).toBe(true);
  });
  it('falls back to the remembered token, or none (login form)', () => {
    expect(choose('http://127.0.0.1:8080/', false, 'remembered-token!').choice).toMatchObject({ token: 'remembered-token!' });
    expect(choose('http://127.0.0.1:8080/', false, null).choice).toMatchObject({ kind: 'http', token: null });
  });
  it('picks the fake fleet with ?fake=N', () => {
    const c = choose('http://127.0.0.1:5173/?fake=2000&drop=5', false, null);
    expect(c.choice).toMatchObject({ kind: 'fake', n: 2000, opts: { dropAfter: 5 } });
  });
  it('recognises /wall with or without a trailing slash', () => {
    expect(choose('http://127.0.0.1:8080/wall/', false, 't').wall).toBe(true);
    expect(choose('http://127.0.0.1:8080/', false, 't').wall).toBe(false);
  });
});

describe('reconnect backoff', () => {
  it('goes 1 s, 2 s, 4 s, 8 s, then 10 s forever', () => {
    const middle = () => 0.5;
    expect([0, 1, 2, 3, 4, 5, 50].map((n) => backoffMs(n, middle))).toEqual([1000, 2000, 4000, 8000, 10000, 10000, 10000]);
    // Spread: never fewer than half, never more than one and a half times the step.
    for (let i = 0; i < 200; i++) {
      const w = backoffMs(0);
      expect(w).toBeGreaterThanOrEqual(500);
      expect(w).toBeLessThanOrEqual(1500);
    }
    expect(backoffMs(9, () => 0)).toBe(5000);
    expect(backoffMs(9, () => 0.999)).toBe(14990);
  });
});

describe('normalize', () => {
  it('accepts the contract and fills what is missing', () => {
    const s = normalize.server({ label: 'web01', worst_level: 4, checks: [{ check: 'http', ok: false, level: 4, incident: 7 }] });
    expect(s.worst_level).toBe(4);
    expect(s.checks[0]).toMatchObject({ check: 'http', ok: false, incident: 7, level: 4, since: null, suppressed: null });
    expect(s.resources).toEqual([]);
    expect(s.maintenance).toBeNull();
  });
  it('keeps the engine alarms and a check made unknown by a local failure', () => {
    const h = normalize.health({ started_at: 'x', alarms: [{ code: 'store_waiting', since: 's', detail: 'database is locked', count: 12 }, 'junk'] });
    expect(h.alarms).toEqual([{ code: 'store_waiting', since: 's', detail: 'database is locked', count: 12, total: 0 }]);
    expect(normalize.health({}).alarms).toEqual([]);
    const s = normalize.server({ label: 'a', checks: [{ check: 'http', ok: true, unknown: 'local failure: EMFILE' }] });
    expect(s.checks[0].unknown).toBe('local failure: EMFILE');
  });
  it('accepts the interim shell shape of levels ({number, name_ja})', () => {
    const s = normalize.server({ label: 'a', worst_level: { number: 5, name_ja: '疎通不可' }, checks: [] });
    expect(s.worst_level).toBe(5);
  });
  it('ignores unknown message kinds and wraps bare engine events', () => {
    expect(normalize.message({ type: 'who-knows' })).toBeNull();
    expect(normalize.message({ event: 'engine_stopped', at: 'x' })).toMatchObject({ type: 'event' });
    expect(normalize.message({ type: 'open_incident', id: 9 })).toEqual({ type: 'open_incident', id: 9 });
  });
  it('round-trips the fake fleet unchanged', () => {
    const { servers } = makeFleet(50, 2);
    for (const s of servers) expect(normalize.server(JSON.parse(JSON.stringify(s)))).toEqual(s);
  });
});
