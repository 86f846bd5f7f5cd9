//! Maintenance pauses, the pure parts: the tile badge, the pause form as an action, windows in
//! words and in list order. Alerts and automatic recovery of a paused server are suspended; its
//! checks still run and the tile keeps its live colours. Pure.

import type { Action, MaintenanceView, MaintenanceWindow, PauseScope } from '../backend/types';
import { fromJstLocal, jstLocal } from './escalation';
import { JST_MS } from './duration';

export type Lang = 'ja' | 'en';

/** The durations the pause dialog offers, in minutes (0: custom). */
export const DURATIONS = [30, 60, 120, 240] as const;

export function durationName(min: number, lang: Lang): string {
  if (min % 60 === 0) return lang === 'ja' ? `${min / 60}時間` : `${min / 60} h`;
  return lang === 'ja' ? `${min}分` : `${min} min`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `HH:MM` in JST; `M/D HH:MM` when not on the day of `now`. */
export function shortJst(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '--:--';
  const d = new Date(t + JST_MS);
  const today = new Date(now + JST_MS);
  const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  const sameDay = d.getUTCFullYear() === today.getUTCFullYear() && d.getUTCMonth() === today.getUTCMonth() && d.getUTCDate() === today.getUTCDate();
  return sameDay ? hm : `${d.getUTCMonth() + 1}/${d.getUTCDate()} ${hm}`;
}

/** The tile badge: `⚒ メンテナンス中 〜HH:MM`. */
export function badgeText(m: Pick<MaintenanceView, 'until'>, lang: Lang, now: number): string {
  const until = m.until ? shortJst(m.until, now) : '';
  if (lang === 'ja') return until ? `⚒ メンテナンス中 〜${until}` : '⚒ メンテナンス中';
  return until ? `⚒ Maintenance until ${until}` : '⚒ Maintenance';
}

/** A window in words: `11/29 10:00 〜 12:00` (the end's date only when another day). */
export function windowText(w: Pick<MaintenanceWindow, 'starts_at' | 'ends_at'>): string {
  const a = Date.parse(w.starts_at);
  const b = Date.parse(w.ends_at);
  if (Number.isNaN(a) || Number.isNaN(b)) return '—';
  const da = new Date(a + JST_MS);
  const db = new Date(b + JST_MS);
  const day = (d: Date) => `${d.getUTCMonth() + 1}/${d.getUTCDate()}`;
  const hm = (d: Date) => `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  const sameDay = day(da) === day(db) && da.getUTCFullYear() === db.getUTCFullYear();
  return `${day(da)} ${hm(da)} 〜 ${sameDay ? '' : `${day(db)} `}${hm(db)}`;
}

export type WindowState = 'active' | 'future' | 'ended';

export function windowState(w: Pick<MaintenanceWindow, 'starts_at' | 'ends_at' | 'active'>, now: number): WindowState {
  const a = Date.parse(w.starts_at);
  const b = Date.parse(w.ends_at);
  if (w.active || (a <= now && now < b)) return 'active';
  if (a > now) return 'future';
  return 'ended';
}

/** The list's order: running windows (ending soonest first), then future ones (starting soonest
 * first), then ended ones (newest first). */
export function sortWindows(list: readonly MaintenanceWindow[], now: number): MaintenanceWindow[] {
  const rank: Record<WindowState, number> = { active: 0, future: 1, ended: 2 };
  return [...list].sort((x, y) => {
    const sx = windowState(x, now);
    const sy = windowState(y, now);
    if (sx !== sy) return rank[sx] - rank[sy];
    if (sx === 'active') return x.ends_at.localeCompare(y.ends_at) || x.id - y.id;
    if (sx === 'future') return x.starts_at.localeCompare(y.starts_at) || x.id - y.id;
    return y.ends_at.localeCompare(x.ends_at) || y.id - x.id;
  });
}

export interface PauseForm {
  reason: string;
  /** `now`: from now for `minutes` (a preset, or 0 with `custom`); `window`: start to end. */
  mode: 'now' | 'window';
  minutes: number;
  /** Custom minutes as typed (a number input may hand over a number, or null when empty). */
  custom: string | number | null;
  /** datetime-local values, read as JST. */
  start: string;
  end: string;
}

export function emptyPauseForm(now: number): PauseForm {
  return { reason: '', mode: 'now', minutes: 60, custom: '', start: jstLocal(now), end: jstLocal(now + 3_600_000) };
}

export type PauseProblem = '' | 'reason' | 'minutes' | 'start' | 'end' | 'order' | 'past';

/** The pause action of a form, or what is wrong with it. At most a week (a guard against typos). */
export function pauseAction(scope: PauseScope, f: PauseForm, now: number): { action: Action } | { problem: PauseProblem } {
  const reason = f.reason.trim();
  if (!reason) return { problem: 'reason' };
  if (f.mode === 'now') {
    const typed = String(f.custom ?? '').trim();
    const minutes = f.minutes > 0 ? f.minutes : typed === '' ? NaN : Number(typed);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 7 * 24 * 60) return { problem: 'minutes' };
    return { action: { type: 'pause', scope, minutes, reason } };
  }
  const a = fromJstLocal(f.start);
  const b = fromJstLocal(f.end);
  if (Number.isNaN(a)) return { problem: 'start' };
  if (Number.isNaN(b)) return { problem: 'end' };
  if (b <= a) return { problem: 'order' };
  if (b <= now) return { problem: 'past' };
  return { action: { type: 'pause', scope, starts_at: new Date(a).toISOString(), ends_at: new Date(b).toISOString(), reason } };
}

export function scopeText(s: PauseScope, lang: Lang, customerName = ''): string {
  if (s.kind === 'customer') {
    const who = customerName ? `${customerName} (${s.id})` : s.id;
    return lang === 'ja' ? `顧客 ${who} の全サーバー` : `every server of ${who}`;
  }
  return lang === 'ja' ? `サーバー ${s.id}` : `server ${s.id}`;
}
