//! The fleet as the consoles hold it: servers by label, kept in display order, with counts per
//! state. Pure and immutable: a delta makes a new Fleet that shares every unchanged ServerView
//! object with the old one (so keyed each blocks redraw only the changed tiles), and moves only
//! the changed servers in the order (binary search), never re-sorting the whole fleet.

import type { ServerView } from '../backend/types';
import { RANK, liveState, tileState, type TileState } from './levels';

export interface Entry {
  server: ServerView;
  /** For order and counts: maintenance wins. */
  state: TileState;
  /** For colours: what the checks say (a paused server keeps its live colours). */
  live: TileState;
  rank: number;
  /** Problem start as epoch ms (Infinity when none): older problems come first. */
  since: number;
}

export interface Fleet {
  byLabel: ReadonlyMap<string, Entry>;
  /** Display order: worst first; within a level the oldest problem first; then by label. */
  order: readonly Entry[];
  counts: Readonly<Record<TileState, number>>;
  rev: number;
}

const collator = new Intl.Collator('en', { numeric: true });

export function entry(server: ServerView): Entry {
  const state = tileState(server);
  const t = server.problem_since ? Date.parse(server.problem_since) : NaN;
  return { server, state, live: state === 'maintenance' ? liveState(server) : state, rank: RANK[state], since: Number.isNaN(t) ? Infinity : t };
}

/** The display order (a total order: labels are unique). */
export function compareEntries(a: Entry, b: Entry): number {
  if (a.rank !== b.rank) return b.rank - a.rank;
  if (a.since !== b.since) return a.since < b.since ? -1 : 1;
  return collator.compare(a.server.label, b.server.label);
}

function zeroCounts(): Record<TileState, number> {
  return { '5': 0, '4': 0, '3': 0, '2': 0, unknown: 0, maintenance: 0, ok: 0 };
}

export const EMPTY: Fleet = { byLabel: new Map(), order: [], counts: zeroCounts(), rev: 0 };

/** A snapshot replaces everything. */
export function fromSnapshot(servers: readonly ServerView[], rev: number): Fleet {
  const byLabel = new Map<string, Entry>();
  for (const s of servers) byLabel.set(s.label, entry(s));
  const order = [...byLabel.values()].sort(compareEntries);
  const counts = zeroCounts();
  for (const e of order) counts[e.state] += 1;
  return { byLabel, order, counts, rev };
}

/** Index of `e` in the sorted `order`, or where it would be inserted. */
function search(order: readonly Entry[], e: Entry): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareEntries(order[mid], e) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const sameKey = (a: Entry, b: Entry) => a.rank === b.rank && a.since === b.since;

/** A delta replaces the servers it names (by label); everything else is shared. */
export function applyDelta(fleet: Fleet, servers: readonly ServerView[], rev: number): Fleet {
  if (servers.length === 0) return rev === fleet.rev ? fleet : { ...fleet, rev };
  const byLabel = new Map(fleet.byLabel);
  const order = fleet.order.slice();
  const counts = { ...fleet.counts };
  for (const s of servers) {
    const next = entry(s);
    const prev = byLabel.get(s.label);
    byLabel.set(s.label, next);
    counts[next.state] += 1;
    if (!prev) {
      order.splice(search(order, next), 0, next);
      continue;
    }
    counts[prev.state] -= 1;
    const at = search(order, prev);
    if (sameKey(prev, next)) {
      order[at] = next;
    } else {
      order.splice(at, 1);
      order.splice(search(order, next), 0, next);
    }
  }
  return { byLabel, order, counts, rev };
}

export function problemCount(counts: Fleet['counts']): number {
  return counts['2'] + counts['3'] + counts['4'] + counts['5'];
}

/** A server read on its own (a detail view asks every few seconds): only its response times,
 * check times and an OK check's detail are taken — the feed's deltas leave them out — while
 * its state comes from the feed alone, so an answer older than the last delta changes nothing
 * shown. Unknown servers are ignored. */
export function withTelemetry(fleet: Fleet, fresh: ServerView): Fleet {
  const current = fleet.byLabel.get(fresh.label)?.server;
  if (!current) return fleet;
  const byCheck = new Map(fresh.checks.map((c) => [c.check, c]));
  const checks = current.checks.map((c) => {
    const f = byCheck.get(c.check);
    if (!f) return c;
    const detail = c.ok === true && f.ok === true && !c.unknown ? f.detail : c.detail;
    return { ...c, ms: f.ms, last_at: f.last_at, detail };
  });
  return applyDelta(fleet, [{ ...current, checks, last_check_at: fresh.last_check_at }], fleet.rev);
}
