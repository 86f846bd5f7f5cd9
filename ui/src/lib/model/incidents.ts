//! The incident panel's rows, derived from the live server views (so a closed incident leaves
//! the panel with the delta that closes it), named with the engine's trigger when the incident
//! list has it. Rows of one ServerView are memoised by object identity. Pure.

import type { Incident, Prompt, ServerView } from '../backend/types';
import type { Entry } from './fleet';
import { checkName } from './names';
import { RANK, isProblem } from './levels';

export interface IncidentRow {
  /** Incident id, or null for a resource level the view has without an id. */
  id: number | null;
  key: string;
  host: string;
  check: string;
  level: number;
  since: number; // epoch ms (Infinity when unknown)
  sinceIso: string | null;
  trigger: string | null;
  /** The operator who took it (null: nobody yet, or a resource level without an id). */
  acknowledgedBy: string | null;
  /** Why the engine does not recover it by itself (null: it does, or nothing to recover). */
  prompt: Prompt | null;
  /** The server is in maintenance: the checks still run and record, the alert is held; the
   * panel lists the row muted, after the others, and it never blinks or sounds. */
  maintenance: boolean;
}

const rowsOf = new WeakMap<ServerView, IncidentRow[]>();

const ms = (iso: string | null) => {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? Infinity : t;
};

/** The open incidents of one server (a paused server's too, marked `maintenance`). */
export function serverIncidents(s: ServerView): IncidentRow[] {
  let rows = rowsOf.get(s);
  if (rows) return rows;
  rows = [];
  const paused = !!s.maintenance;
  {
    for (const c of s.checks) {
      if (c.incident === null) continue;
      const level = c.level ?? 4;
      rows.push({
        id: c.incident, key: `${s.label}\u0000${c.check}`, host: s.label, check: c.check, level,
        since: ms(c.since), sinceIso: c.since, trigger: null, acknowledgedBy: c.acknowledged_by, prompt: c.prompt,
        maintenance: paused,
      });
    }
    for (const r of s.resources) {
      if (r.level === null || r.level < 2 || r.level > 5) continue;
      if (s.checks.some((c) => c.check === r.resource && c.incident !== null)) continue;
      const since = s.problem_since;
      rows.push({
        id: null, key: `${s.label}\u0000${r.resource}`, host: s.label, check: r.resource,
        level: r.level, since: ms(since), sinceIso: since, trigger: null, acknowledgedBy: null, prompt: null,
        maintenance: paused,
      });
    }
  }
  rowsOf.set(s, rows);
  return rows;
}

/** Incidents of servers in maintenance after all others; then highest level first, oldest first. */
export function compareIncidents(a: IncidentRow, b: IncidentRow): number {
  if (a.maintenance !== b.maintenance) return a.maintenance ? 1 : -1;
  if (a.level !== b.level) return b.level - a.level;
  if (a.since !== b.since) return a.since < b.since ? -1 : 1;
  return (a.id ?? Infinity) - (b.id ?? Infinity) || a.key.localeCompare(b.key);
}

/** Open incidents, highest level first, then oldest first; those of servers in maintenance
 * (whose checks still run and record) after all others. Only problem and paused servers are
 * visited: the fleet order puts them before the healthy ones (see RANK), so the walk stops at
 * the first healthy one. */
export function openIncidents(order: readonly Entry[], known: ReadonlyMap<number, Incident>): IncidentRow[] {
  const out: IncidentRow[] = [];
  for (const e of order) {
    if (e.rank < RANK.maintenance) break; // past the problems and the paused servers
    if (e.rank < RANK['2'] && e.state !== 'maintenance') continue; // unknown: nothing open
    if (e.state === 'maintenance' && !isProblem(e.live)) continue; // paused, all well
    for (const r of serverIncidents(e.server)) {
      const inc = r.id !== null ? known.get(r.id) : undefined;
      out.push(inc ? { ...r, trigger: inc.trigger, sinceIso: r.sinceIso ?? inc.opened_at, since: r.since === Infinity ? ms(inc.opened_at) : r.since } : r);
    }
  }
  return out.sort(compareIncidents);
}

/** The trigger name as the contract writes it (contract §2.2), when the engine's is not at hand. */
export function triggerOf(row: IncidentRow, lang: 'ja' | 'en'): string {
  if (row.trigger) return row.trigger;
  const name = checkName(row.check, lang);
  if (row.check === 'ping') return `${row.host} ping 疎通不可`;
  if (['load', 'disk', 'inode', 'mailq'].includes(row.check)) return `${row.host} ${name}`;
  return `${row.host} ${name} サービスダウン`;
}
