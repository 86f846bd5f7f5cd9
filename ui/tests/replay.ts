// What the real engine said, played back for the unit tests. The fixtures are recorded from
// `anshin demo` by scripts/record-fixtures.mjs (`make ui-fixtures`; re-run when the console
// contract changes): `snapshot` the first feed message, `feed` every message after it, `end` the
// snapshot a second console got at the end, `recoveryFeed` a console of a recovery that ran, and
// `exchange(name)` one request as the UI's HttpBackend makes it with the engine's answer.
//
// `replay()` gives the UI's own HttpBackend (not a stand-in) with `fetch` answering from the
// recording: a request the recording does not hold (another path, query, body or token) is not
// answered, and is listed in `missed`, so a test of a request the engine never answered fails.

import { vi } from 'vitest';
import { HttpBackend } from '../src/lib/backend/http';
import type { ConsoleMessage } from '../src/lib/backend/generated/engine';
import type { Snapshot } from '../src/lib/backend/fake';
import snapshotJson from './fixtures/snapshot.json';
import feedJson from './fixtures/feed.json';
import exchangesJson from './fixtures/exchanges.json';
import recoveryJson from './fixtures/recovery.json';

export type Role = 'operator' | 'other' | 'viewer';

export interface Exchange {
  name: string;
  /** Whose token asked: two operators (`operator`, `other`) and a viewer. */
  role: Role;
  method: 'GET' | 'POST';
  path: string;
  body: unknown;
  status: number;
  json?: unknown;
  text?: string;
}

export const snapshot = snapshotJson as unknown as Snapshot;
export const feed: ConsoleMessage[] = (feedJson.messages as { message?: ConsoleMessage }[]).flatMap((m) => (m.message ? [m.message] : []));
export const end = feedJson.end as unknown as Snapshot;
/** What a console of a second engine got while it rebooted web02 (the demo fleet with a reboot
 * action: the demo's own fleet has none, so no recovery runs there); exchanges `recovery_*`. */
export const recoveryFeed: ConsoleMessage[] = (recoveryJson.messages as { message?: ConsoleMessage }[]).flatMap((m) => (m.message ? [m.message] : []));
/** The names the tokens were given (who acted, in the log). */
export const names: Record<Role, string> = exchangesJson.tokens;
export const exchanges = exchangesJson.exchanges as unknown as Exchange[];

export function exchange(name: string): Exchange {
  const e = exchanges.find((x) => x.name === name);
  if (!e) throw new Error(`no recorded exchange ${name}: re-record the fixtures (make ui-fixtures)`);
  return e;
}

/** The engine's JSON answer of a recorded exchange. */
export function answer<T>(name: string): T {
  const e = exchange(name);
  if (e.json === undefined) throw new Error(`exchange ${name} has no JSON answer`);
  return e.json as T;
}

/** The events of the feed, in order. */
export function events(): Extract<ConsoleMessage, { type: 'event' }>['event'][] {
  return feed.flatMap((m) => (m.type === 'event' ? [m.event] : []));
}

const ORIGIN = 'http://127.0.0.1:8470';
const token = (role: Role) => `token-of-${role}`;

/**
 * The browser backend of `role` against the recording. `only`: the exchanges it may answer with
 * (default: all); each is answered once, in the recorded order, so asking twice what was asked
 * twice gets both answers. Stubs the global `fetch` (restore with `vi.unstubAllGlobals()`).
 */
export function replay(role: Role = 'operator', only?: readonly string[]) {
  const pool = only ? only.map(exchange) : [...exchanges];
  const used = new Set<Exchange>();
  const missed: string[] = [];
  const asked: Exchange[] = [];
  vi.stubGlobal('fetch', async (input: URL | string, init: RequestInit = {}) => {
    const url = new URL(String(input));
    const method = init.method ?? 'GET';
    const auth = (init.headers as Record<string, string> | undefined)?.Authorization;
    const body = typeof init.body === 'string' ? JSON.parse(init.body) : null;
    const e = pool.find(
      (x) =>
        !used.has(x) &&
        x.method === method &&
        `Bearer ${token(x.role)}` === auth &&
        same(new URL(x.path, ORIGIN), url) &&
        canon(x.body ?? null) === canon(body),
    );
    if (!e) {
      missed.push(`${method} ${url.pathname}${url.search} ${JSON.stringify(body)} (${auth})`);
      throw new TypeError(`not recorded: ${method} ${url.pathname}${url.search}`);
    }
    used.add(e);
    asked.push(e);
    const text = e.json !== undefined ? JSON.stringify(e.json) : (e.text ?? '');
    return new Response(text, { status: e.status, headers: { 'Content-Type': e.json !== undefined ? 'application/json' : 'text/html' } });
  });
  return { backend: new HttpBackend(ORIGIN, token(role), () => {}), missed, asked };
}

/** JSON with the keys of every object sorted (a body's key order means nothing). */
function canon(v: unknown): string {
  return JSON.stringify(v, (_, x) => (x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
}

function same(a: URL, b: URL): boolean {
  return a.origin === b.origin && a.pathname === b.pathname && a.search === b.search;
}
