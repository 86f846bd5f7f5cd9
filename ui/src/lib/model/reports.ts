//! Monthly reports, the pure parts: months in Japan time (which month the panel opens on, the
//! deadline and the automatic send), which rows are highlighted, which buttons a row offers, and
//! the order of the rows. Pure and unit-tested; the engine decides `overdue`, the UI only shows it.

import type { ReportDraft, ReportState } from '../backend/types';
import { catalogue } from './catalogue';

const JST_OFFSET = 9 * 3_600_000;
const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

/** The engine sends the remaining drafts (not the held ones) on a day of the next month at an
 * hour (JST), both from its catalogue; drafts not sent by the end of the day before are overdue. */
function sendTimes(): { day: number; hour: number } {
  const r = catalogue()?.monthly_report;
  return r ? { day: r.send_day, hour: r.send_hour } : { day: NaN, hour: NaN };
}

/** `YYYY-MM` of an instant, in Japan time. */
export function jstMonth(now: number): string {
  return new Date(now + JST_OFFSET).toISOString().slice(0, 7);
}

/** A valid `YYYY-MM`. */
export function isMonth(m: string): boolean {
  return MONTH.test(m);
}

/** `YYYY-MM` shifted by `n` months (negative: back). */
export function addMonths(month: string, n: number): string {
  const m = MONTH.exec(month);
  if (!m) return month;
  const idx = Number(m[1]) * 12 + (Number(m[2]) - 1) + n;
  return `${String(Math.floor(idx / 12)).padStart(4, '0')}-${String((idx % 12) + 1).padStart(2, '0')}`;
}

/** The month the panel opens on: the previous month in Japan time (its drafts are due now). */
export function defaultMonth(now: number): string {
  return addMonths(jstMonth(now), -1);
}

/** The last `n` months before the current one (JST), newest first: the month selector. */
export function recentMonths(now: number, n = 12): string[] {
  const cur = jstMonth(now);
  return Array.from({ length: n }, (_, i) => addMonths(cur, -(i + 1)));
}

/** An instant on day `day`, `hour`:00 JST of the month after `month` (epoch ms). */
function nextMonthAt(month: string, day: number, hour: number): number {
  const next = addMonths(month, 1);
  const m = MONTH.exec(next);
  if (!m) return NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, day, hour) - JST_OFFSET;
}

/** The first instant a report of `month` is overdue: the send day's 00:00 JST of the next month. */
export function overdueFrom(month: string): number {
  return nextMonthAt(month, sendTimes().day, 0);
}

/** When the engine sends the drafts of `month` by itself (the send day and hour of the next month). */
export function autoSendAt(month: string): number {
  const t = sendTimes();
  return nextMonthAt(month, t.day, t.hour);
}

/** How the UI marks a row: `overdue` (red) when the engine says so and it is not sent. */
export function rowFlag(r: Pick<ReportDraft, 'state' | 'overdue'>): 'overdue' | 'sent' | 'held' | 'draft' {
  if (r.overdue && r.state !== 'sent') return 'overdue';
  return r.state;
}

export type ReportAction = 'send' | 'hold' | 'release';

/** The buttons a row offers an operator: a draft can be sent or held, a held one sent or released. */
export function actionsFor(state: ReportState): ReportAction[] {
  switch (state) {
    case 'draft':
      return ['send', 'hold'];
    case 'held':
      return ['send', 'release'];
    default:
      return [];
  }
}

const STATE_ORDER: Record<ReportState, number> = { draft: 0, held: 1, sent: 2 };

/** Overdue first, then drafts, held, sent; newest month first; then by customer id. */
export function sortReports(list: readonly ReportDraft[]): ReportDraft[] {
  const collator = new Intl.Collator('en', { numeric: true });
  return [...list].sort(
    (a, b) =>
      Number(rowFlag(b) === 'overdue') - Number(rowFlag(a) === 'overdue') ||
      STATE_ORDER[a.state] - STATE_ORDER[b.state] ||
      b.month.localeCompare(a.month) ||
      collator.compare(a.customer, b.customer) ||
      a.id - b.id,
  );
}

export interface ReportCounts {
  draft: number;
  held: number;
  sent: number;
  overdue: number;
}

export function countReports(list: readonly ReportDraft[]): ReportCounts {
  const c: ReportCounts = { draft: 0, held: 0, sent: 0, overdue: 0 };
  for (const r of list) {
    c[r.state] += 1;
    if (rowFlag(r) === 'overdue') c.overdue += 1;
  }
  return c;
}

/** What "すべて送信" sends: the drafts of one month (held ones stay); none without a month. */
export function sendAllTargets(list: readonly ReportDraft[], month: string): ReportDraft[] {
  if (!isMonth(month)) return [];
  return list.filter((r) => r.month === month && r.state === 'draft');
}

/** `2026年10月` / `Oct 2026`. */
export function monthLabel(month: string, lang: 'ja' | 'en'): string {
  const m = MONTH.exec(month);
  if (!m) return month;
  if (lang === 'ja') return `${m[1]}年${Number(m[2])}月`;
  const names = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${names[Number(m[2]) - 1]} ${m[1]}`;
}
