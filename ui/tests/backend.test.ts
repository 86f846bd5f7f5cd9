import { describe, expect, it } from 'vitest';
import { choose } from '../src/lib/backend';
import { backoffMs } from '../src/lib/backend/http';
import * as normalize from '../src/lib/backend/normalize';
import { feed, snapshot } from './replay';

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
  it('picks the perf page\'s generated fleet with ?fake=N', () => {
    const c = choose('http://127.0.0.1:5173/?fake=2000&perf=1&quiet=1&view=wall', false, null);
    expect(c.choice).toEqual({ kind: 'fake', n: 2000, opts: { quiet: true, view: 'wall' } });
    expect(choose('http://127.0.0.1:5173/?fake=x', false, null).choice).toMatchObject({ kind: 'fake', n: 60, opts: { quiet: false } });
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
  it('passes the engine\'s messages as they are (the contract is generated from its types)', () => {
    // Every message the real engine sent in the recording (tests/fixtures): none is dropped or changed.
    expect(normalize.message(JSON.parse(JSON.stringify(snapshot)))).toEqual(snapshot);
    expect(feed.length).toBeGreaterThan(10);
    for (const m of feed) expect(normalize.message(JSON.parse(JSON.stringify(m)))).toEqual(m);
    expect(normalize.message({ type: 'open_incident', id: 9 })).toEqual({ type: 'open_incident', id: 9 });
    const connection = { type: 'connection', connected: false, since: 's', message: 'm' };
    expect(normalize.message(connection)).toEqual(connection);
  });
  it('ignores kinds it does not know and the desktop mirror\'s snapshot before the engine spoke', () => {
    expect(normalize.message({ type: 'who-knows' })).toBeNull();
    expect(normalize.message({ event: 'engine_stopped', at: 'x' })).toBeNull();
    expect(normalize.message('text')).toBeNull();
    expect(normalize.message({ type: 'snapshot', rev: 0, servers: [], health: null })).toBeNull();
    expect(normalize.message({ type: 'event', event: null })).toBeNull();
    // An event of a kind this console does not know (a newer engine) passes: views skip it.
    expect(normalize.message({ type: 'event', event: { event: 'brand_new', at: 'x' } })).toMatchObject({ type: 'event' });
  });
});
