//! The review of the incident log, the pure parts: the filter as a request, the timeline's
//! geometry, the story's steps in words, and the CSV/JSON export. Pure and unit-tested.

import type { ReviewFilter, ReviewIncident, StoryStep } from '../backend/types';
import { catalogue } from './catalogue';
import { jstDateTime } from './duration';

export type Lang = 'ja' | 'en';

/** The filter fields in request order (also the names of the filter inputs' test hooks). */
export const FILTER_FIELDS = ['customer', 'server', 'level', 'check', 'from', 'to', 'operator', 'text', 'open', 'limit'] as const;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The filter without its empty fields (trimmed): what Tauri's `review` command receives. */
export function filterArgs(f: ReviewFilter): ReviewFilter {
  const out: ReviewFilter = {};
  for (const k of ['server', 'customer', 'check', 'from', 'to', 'operator', 'text'] as const) {
    const v = f[k]?.trim();
    if (v) out[k] = v;
  }
  if (f.level === 2 || f.level === 3 || f.level === 4 || f.level === 5) out.level = f.level;
  if (f.open !== undefined) out.open = f.open;
  if (f.limit !== undefined && Number.isFinite(f.limit) && f.limit > 0) out.limit = Math.floor(f.limit);
  return out;
}

/** The filter as the query string of `GET /api/v1/review` (empty fields left out). */
export function filterToQuery(f: ReviewFilter): string {
  const a = filterArgs(f);
  const q = new URLSearchParams();
  for (const k of FILTER_FIELDS) {
    const v = a[k];
    if (v !== undefined) q.set(k, String(v));
  }
  return q.toString();
}

const FULL_WIDTH = /[\uFF10-\uFF19\uFF0D\uFF0F\uFF0E\u2010-\u2015\u2212]/g;

/** What the operator typed into a date field, tidied toward `YYYY-MM-DD` (JST day): full-width
 * digits and separators made ASCII, `/` or `.` read as `-`, a one-digit month or day padded
 * (`2026/5/1` → `2026-05-01`). Anything else is left as typed, for `dateProblem` to refuse. */
export function normDate(v: string | undefined): string {
  let s = (v ?? '').trim().replace(FULL_WIDTH, (c) => {
    const n = c.charCodeAt(0);
    if (n >= 0xff10 && n <= 0xff19) return String(n - 0xff10);
    return '-';
  });
  s = s.replace(/[/.]/g, '-');
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(s);
  return m ? `${m[1]}-${m[2].padStart(2, '0')}-${m[3].padStart(2, '0')}` : s;
}

/** A date field's text is worth asking with while still typing: empty, or a whole valid day. */
export function dateComplete(v: string): boolean {
  const s = normDate(v);
  return s === '' || (DATE.test(s) && !Number.isNaN(jstDayStart(s)));
}

/** The customer an incident is about, for people: its name, else its id, else what the live
 * fleet says of the server (`customerOf`), else ''. */
export function customerLabel(i: ReviewIncident, customerOf: (host: string) => string = () => ''): string {
  return i.customer_name?.trim() || i.customer?.trim() || customerOf(i.host) || '';
}

/** A date field's problem, or '' (the engine answers 400 for a bad one; say so before asking). */
export function dateProblem(f: ReviewFilter): '' | 'from' | 'to' | 'order' {
  const from = f.from?.trim();
  const to = f.to?.trim();
  if (from && (!DATE.test(from) || Number.isNaN(jstDayStart(from)))) return 'from';
  if (to && (!DATE.test(to) || Number.isNaN(jstDayStart(to)))) return 'to';
  if (from && to && from > to) return 'order';
  return '';
}

const JST_OFFSET = 9 * 3_600_000;

/** Midnight (Japan time) starting the day `YYYY-MM-DD`, as epoch ms; NaN when not a date. */
export function jstDayStart(day: string): number {
  const m = DATE.exec(day.trim()) ? day.trim().split('-').map(Number) : null;
  if (!m) return NaN;
  const [y, mo, d] = m;
  const t = Date.UTC(y, mo - 1, d);
  const back = new Date(t);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return NaN;
  return t - JST_OFFSET;
}

/** The JST day `YYYY-MM-DD` of an instant. */
export function jstDay(ms: number): string {
  return new Date(ms + JST_OFFSET).toISOString().slice(0, 10);
}

// ------------------------------------------------------------------------------ timeline

export interface Range {
  from: number; // epoch ms
  to: number; // epoch ms, > from
}

export interface Bar {
  id: number;
  level: number;
  /** Left edge and width, in percent of the track. */
  x: number;
  w: number;
  /** Still open (the bar runs to `now`). */
  open: boolean;
  /** Starts before / ends after the range (drawn cut). */
  cutStart: boolean;
  cutEnd: boolean;
}

export interface TimelineRow {
  host: string;
  worst: number;
  bars: Bar[];
}

const ms = (iso: string | null) => (iso ? Date.parse(iso) : NaN);

/** The range the timeline shows: the filter's days when given, else what the incidents span. */
export function timelineRange(list: readonly ReviewIncident[], f: ReviewFilter, now: number): Range {
  const fromDay = f.from ? jstDayStart(f.from) : NaN;
  const toDay = f.to ? jstDayStart(f.to) + 86_400_000 : NaN;
  let lo = Infinity;
  let hi = -Infinity;
  for (const i of list) {
    const a = ms(i.opened_at);
    const b = i.closed_at ? ms(i.closed_at) : now;
    if (!Number.isNaN(a)) lo = Math.min(lo, a);
    if (!Number.isNaN(b)) hi = Math.max(hi, b);
    else if (!Number.isNaN(a)) hi = Math.max(hi, a);
  }
  let from = Number.isNaN(fromDay) ? lo : fromDay;
  let to = Number.isNaN(toDay) ? hi : toDay;
  if (!Number.isFinite(from) || !Number.isFinite(to)) {
    to = now;
    from = now - 86_400_000;
  }
  if (to <= from) {
    // One instant (or a reversed range): show an hour around it.
    const mid = from;
    from = mid - 1_800_000;
    to = mid + 1_800_000;
  }
  // A little air on both sides of a range taken from the data.
  if (Number.isNaN(fromDay) && Number.isNaN(toDay)) {
    const pad = (to - from) * 0.02;
    from -= pad;
    to += pad;
  }
  return { from, to };
}

/** The smallest visible bar, in percent (a 10-second incident must still be clickable). */
export const MIN_BAR = 0.4;

/** One bar: where an incident sits on a track spanning `range`; null when outside. */
export function bar(i: ReviewIncident, range: Range, now: number): Bar | null {
  const a = ms(i.opened_at);
  if (Number.isNaN(a)) return null;
  const closed = i.closed_at ? ms(i.closed_at) : NaN;
  const b = Number.isNaN(closed) ? Math.max(a, now) : Math.max(a, closed);
  if (b < range.from || a > range.to) return null;
  const span = range.to - range.from;
  const left = ((Math.max(a, range.from) - range.from) / span) * 100;
  const right = ((Math.min(b, range.to) - range.from) / span) * 100;
  let x = left;
  let w = Math.max(right - left, MIN_BAR);
  if (x + w > 100) x = Math.max(0, 100 - w);
  w = Math.min(w, 100);
  return { id: i.id, level: i.level, x, w, open: i.closed_at === null, cutStart: a < range.from, cutEnd: b > range.to };
}

/** Rows per server: the worst level first, then by label; bars in time order. */
export function timeline(list: readonly ReviewIncident[], range: Range, now: number): TimelineRow[] {
  const rows = new Map<string, TimelineRow>();
  const sorted = [...list].sort((a, b) => ms(a.opened_at) - ms(b.opened_at) || a.id - b.id);
  for (const i of sorted) {
    const b = bar(i, range, now);
    if (!b) continue;
    let row = rows.get(i.host);
    if (!row) rows.set(i.host, (row = { host: i.host, worst: 0, bars: [] }));
    row.bars.push(b);
    row.worst = Math.max(row.worst, i.level);
  }
  const collator = new Intl.Collator('en', { numeric: true });
  return [...rows.values()].sort((a, b) => b.worst - a.worst || collator.compare(a.host, b.host));
}

export interface Tick {
  x: number; // percent
  label: string;
  /** A day boundary (drawn stronger). */
  day: boolean;
}

const STEPS = [
  15 * 60_000, 30 * 60_000, 3_600_000, 2 * 3_600_000, 3 * 3_600_000, 6 * 3_600_000, 12 * 3_600_000,
  86_400_000, 2 * 86_400_000, 7 * 86_400_000, 14 * 86_400_000, 30 * 86_400_000,
];

/** Axis ticks at round JST times, at most about `max` of them. */
export function ticks(range: Range, max = 10): Tick[] {
  const span = range.to - range.from;
  const step = STEPS.find((s) => span / s <= max) ?? STEPS[STEPS.length - 1];
  // Round in JST: shift, floor to the step, shift back.
  let t = Math.ceil((range.from + JST_OFFSET) / step) * step - JST_OFFSET;
  const out: Tick[] = [];
  for (; t <= range.to && out.length < 100; t += step) {
    const local = new Date(t + JST_OFFSET);
    const day = local.getUTCHours() === 0 && local.getUTCMinutes() === 0;
    const md = `${local.getUTCMonth() + 1}/${local.getUTCDate()}`;
    const hm = `${String(local.getUTCHours()).padStart(2, '0')}:${String(local.getUTCMinutes()).padStart(2, '0')}`;
    out.push({ x: ((t - range.from) / span) * 100, label: step >= 86_400_000 ? md : day ? `${md} ${hm}` : hm, day });
  }
  return out;
}

// ------------------------------------------------------------------------------ the story

export type StepGroup = 'detect' | 'mail' | 'action' | 'call' | 'recovery' | 'closed' | 'level' | 'check' | 'other';

/** What kind of step this is (its icon and colour). */
export function stepGroup(kind: string): StepGroup {
  if (kind === 'incident_opened') return 'detect';
  if (kind === 'incident_closed') return 'closed';
  if (kind.startsWith('mail_')) return 'mail';
  if (kind.startsWith('level_')) return 'level';
  if (kind.startsWith('check_')) return 'check';
  if (kind.startsWith('recovery_')) return 'recovery';
  if (kind === 'call' || kind === 'call_logged') return 'call';
  if (kind === 'alert_held' || kind === 'alert_released' || kind === 'status_report_queued') return 'mail';
  if (ACTION_KINDS.has(kind)) return 'action';
  return 'other';
}

/** Steps that operators (or the engine on their behalf) took: drawn as actions. */
const ACTION_KINDS: ReadonlySet<string> = new Set([
  'acknowledged', 'note', 'note_added', 'maintenance_added', 'maintenance_ended', 'maintenance_extended',
  'maintenance_changed', 'consent_recorded', 'spot_billed',
]);

export const STEP_ICON: Record<StepGroup, string> = {
  detect: '✖',
  mail: '✉',
  action: '⚑',
  call: '☎',
  recovery: '⚙',
  closed: '✔',
  level: '⇅',
  check: '·',
  other: '•',
};

/** The Japanese or English name of an event kind (the kind itself when unknown). */
export function kindLabel(kind: string, lang: Lang): string {
  const e = catalogue()?.event_kinds.find((k) => k.id === kind);
  return e ? (lang === 'en' ? e.name_en : e.name_ja) : kind;
}

/** A step's name: the engine's Japanese label (ours when the engine only echoed the kind), or
 * an English one. */
export function stepLabel(s: StoryStep, lang: Lang): string {
  if (lang === 'en') return kindLabel(s.kind, 'en');
  return s.label && s.label !== s.kind ? s.label : kindLabel(s.kind, 'ja');
}

/** Actors that are not people: the engine itself, its rules (`rule:auto-restart` …), the export. */
const NOT_PEOPLE: ReadonlySet<string> = new Set(['engine', 'export']);

/** The operator behind an event's `actor`, or null when the actor is the engine, one of its
 * rules (`rule:…`), the export, or unknown (null/empty: a log older than the audit log). */
export function personOf(actor: string | null | undefined): string | null {
  const a = actor?.trim();
  if (!a || NOT_PEOPLE.has(a) || a.startsWith('rule:')) return null;
  return a;
}

/** The operator who took one step: its `actor` when the log recorded one (people only), else
 * (older logs, no actor) `by NAME` at the start of its detail. */
export function stepOperator(s: Pick<StoryStep, 'detail' | 'actor'>): string | null {
  if (s.actor !== null && s.actor !== undefined && s.actor.trim() !== '') return personOf(s.actor);
  const m = /^by ([^\s:,]+)/.exec(s.detail);
  return m ? m[1] : null;
}

/** Operators who acted on an incident (`stepOperator` of each step), in order of first appearance. */
export function operatorsOf(i: Pick<ReviewIncident, 'story'>): string[] {
  const out: string[] = [];
  for (const s of i.story) {
    const who = stepOperator(s);
    if (who && !out.includes(who)) out.push(who);
  }
  return out;
}

/** Whole seconds an incident lasted (closed) or has lasted so far (open). */
export function durationSecs(i: ReviewIncident, now: number): number | null {
  if (i.duration_secs !== null) return i.duration_secs;
  const a = ms(i.opened_at);
  if (Number.isNaN(a)) return null;
  const b = i.closed_at ? ms(i.closed_at) : now;
  return Number.isNaN(b) ? null : Math.max(0, Math.round((b - a) / 1000));
}

// ------------------------------------------------------------------------------ export

/** One CSV field (RFC 4180): quoted when it holds a comma, quote or line break; quotes doubled.
 * A text that a spreadsheet would run as a formula (= + - @ at the start) gets a leading `'`. */
export function csvField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function csvLine(fields: readonly (string | number | boolean | null | undefined)[]): string {
  return fields.map(csvField).join(',');
}

const CSV_HEAD: Record<Lang, string[]> = {
  ja: ['ID', 'サーバー', '顧客', 'チェック', 'レベル', '障害名', '発生 (JST)', '復旧 (JST)', '継続 (秒)', '状態', '対応者', '経過'],
  en: ['ID', 'Server', 'Customer', 'Check', 'Level', 'Trigger', 'Opened (JST)', 'Closed (JST)', 'Duration (s)', 'State', 'Operators', 'Story'],
};

/** The byte-order mark that makes Excel read the file as UTF-8. */
export const BOM = '\uFEFF';

/** The incidents shown, as CSV: a header row, one row per incident (its customer from the
 * incident itself, `customerOf` only when the engine did not say; its story in one field,
 * a line per step), CRLF line ends, UTF-8 with BOM (Excel opens Japanese right). */
export function toCsv(
  list: readonly ReviewIncident[],
  lang: Lang,
  customerOf: (host: string) => string = () => '',
  now = Date.now(),
): string {
  const lines = [csvLine(CSV_HEAD[lang])];
  for (const i of list) {
    const story = i.story.map((s) => `${jstDateTime(s.at)} ${stepLabel(s, lang)}${s.detail ? `: ${s.detail}` : ''}`).join('\n');
    lines.push(
      csvLine([
        i.id,
        i.host,
        customerLabel(i, customerOf),
        i.check,
        i.level,
        i.trigger,
        jstDateTime(i.opened_at),
        i.closed_at ? jstDateTime(i.closed_at) : '',
        durationSecs(i, now),
        i.closed_at ? (lang === 'ja' ? '復旧済み' : 'closed') : lang === 'ja' ? '発生中' : 'open',
        operatorsOf(i).join(' '),
        story,
      ]),
    );
  }
  return BOM + lines.join('\r\n') + '\r\n';
}

/** The incidents shown, as JSON (the engine's own shape, with the filter that chose them). */
export function toJson(list: readonly ReviewIncident[], filter: ReviewFilter, exportedAt = new Date().toISOString()): string {
  return JSON.stringify({ exported_at: exportedAt, filter: filterArgs(filter), incidents: list }, null, 2) + '\n';
}

/** A file name for an export: `anshin-review-YYYYMMDD-HHMM.EXT` (JST). */
export function exportName(ext: 'csv' | 'json', now: number): string {
  const d = new Date(now + JST_OFFSET).toISOString();
  return `anshin-review-${d.slice(0, 10).replace(/-/g, '')}-${d.slice(11, 16).replace(':', '')}.${ext}`;
}
