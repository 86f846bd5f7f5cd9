//! What state a tile shows, in which order tiles come, and how each state looks. Pure.
//! Colour is never the only cue: every state also has an icon and a word (DESIGN.md).

import type { ServerView } from '../backend/types';

export type TileState = 'ok' | '2' | '3' | '4' | '5' | 'unknown' | 'maintenance';

/** Maintenance wins (alerts are paused), then the worst open level, then unknown (a check
 * without any result yet, or whose last attempt failed on the NOC's side), else OK. */
export function tileState(s: ServerView): TileState {
  if (s.maintenance) return 'maintenance';
  return liveState(s);
}

/** What the checks say, maintenance or not: a paused tile keeps these colours (with a badge),
 * while its place in the order and the counts stay those of maintenance. */
export function liveState(s: ServerView): Exclude<TileState, 'maintenance'> {
  if (s.worst_level !== null) return String(s.worst_level) as '2' | '3' | '4' | '5';
  if (s.checks.length === 0 || s.checks.some((c) => c.ok === null || !!c.unknown)) return 'unknown';
  return 'ok';
}

export function isProblem(st: TileState): boolean {
  return st === '2' || st === '3' || st === '4' || st === '5';
}

/** Sort rank: higher comes first. */
export const RANK: Record<TileState, number> = {
  '5': 9,
  '4': 8,
  '3': 7,
  '2': 6,
  unknown: 3,
  maintenance: 2,
  ok: 1,
};

export const ICON: Record<TileState, string> = {
  '5': '✖',
  '4': '■',
  '3': '◆',
  '2': '▲',
  unknown: '?',
  maintenance: '⚒',
  ok: '✔',
};

/** Background colours (dark theme), Zabbix-like. */
export const COLOR: Record<TileState, string> = {
  '5': '#b0003a',
  '4': '#e03a3a',
  '3': '#f0882e',
  '2': '#f2c12e',
  unknown: '#5a6270',
  maintenance: '#2f6fb5',
  ok: '#2ea55d',
};

/** Text colour that reads on COLOR. */
export const INK: Record<TileState, string> = {
  '5': '#ffffff',
  '4': '#ffffff',
  '3': '#1b1b1b',
  '2': '#1b1b1b',
  unknown: '#ffffff',
  maintenance: '#ffffff',
  ok: '#ffffff',
};

export const STATES_BY_SEVERITY: TileState[] = ['5', '4', '3', '2', 'unknown', 'maintenance', 'ok'];

export function levelState(l: number | null): TileState {
  return l === 2 || l === 3 || l === 4 || l === 5 ? (String(l) as TileState) : 'ok';
}

/** Lv.5 blinks until someone acknowledges it. */
export function blinks(st: TileState, acknowledged: boolean): boolean {
  return st === '5' && !acknowledged;
}
