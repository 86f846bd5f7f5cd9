//! Durations as operators read them ("12分", "3時間5分", "2日4時間"), and JST times. Pure.

export type Lang = 'ja' | 'en';

/** Milliseconds since `since` (ISO) at `now`; null when unknown or in the future by clock skew. */
export function elapsedMs(since: string | null, now: number): number | null {
  if (!since) return null;
  const t = Date.parse(since);
  if (Number.isNaN(t)) return null;
  return Math.max(0, now - t);
}

export function formatDuration(ms: number | null, lang: Lang): string {
  if (ms === null) return '';
  const s = Math.floor(ms / 1000);
  const m = Math.floor(s / 60);
  const h = Math.floor(m / 60);
  const d = Math.floor(h / 24);
  if (lang === 'ja') {
    if (s < 60) return `${s}秒`;
    if (m < 60) return `${m}分`;
    if (h < 24) return m % 60 ? `${h}時間${m % 60}分` : `${h}時間`;
    return h % 24 ? `${d}日${h % 24}時間` : `${d}日`;
  }
  if (s < 60) return `${s} s`;
  if (m < 60) return `${m} min`;
  if (h < 24) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** A response time as operators read it: `<1 ms`, `12 ms`, `350 ms`, `1.2 s`, `15 s`; '—' when unknown. */
export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1) return '<1 ms';
  if (ms < 999.5) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 9.95) return `${s.toFixed(1)} s`;
  return `${Math.round(s)} s`;
}

const timeFmt = new Intl.DateTimeFormat('en-GB', {
  timeZone: 'Asia/Tokyo',
  hour12: false,
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const dateTimeFmt = new Intl.DateTimeFormat('en-CA', {
  timeZone: 'Asia/Tokyo',
  hour12: false,
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** HH:MM:SS in Asia/Tokyo. */
export function jstTime(t: number | string | null): string {
  if (t === null || t === '') return '--:--:--';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? '--:--:--' : timeFmt.format(d).replace(/^24:/, '00:');
}

/** YYYY/MM/DD HH:MM:SS in Asia/Tokyo (the format of the customer mails). */
export function jstDateTime(t: number | string | null): string {
  if (t === null || t === '') return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return '—';
  const p = Object.fromEntries(dateTimeFmt.formatToParts(d).map((x) => [x.type, x.value]));
  const hour = p.hour === '24' ? '00' : p.hour;
  return `${p.year}/${p.month}/${p.day} ${hour}:${p.minute}:${p.second}`;
}

/** A full RFC 3339 UTC time stamp (`2026-11-29T19:38:09Z`, `…09.123Z`) standing on its own (not
 * inside a longer word or number). Offsets other than `Z`, dates alone and times alone are not
 * matched: the engine writes its stamps in UTC with `Z`. */
const RFC3339_UTC = /(?<![\w.:+-])(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z(?![\w])/g;

/** An engine's detail text for people: each embedded RFC 3339 UTC stamp rewritten as JST
 * `YYYY/MM/DD HH:MM:SS` (the format of every other time on screen); anything that is not a
 * valid stamp (month 13, 25 o'clock, 30 February, another offset) is left as written. */
export function jstStamps(text: string): string {
  if (!text || !text.includes('T')) return text;
  return text.replace(RFC3339_UTC, (whole, y: string, mo: string, d: string, h: string, mi: string, s: string, frac?: string) => {
    const [Y, M, D, H, Mi, S] = [y, mo, d, h, mi, s].map(Number);
    if (M < 1 || M > 12 || D < 1 || H > 23 || Mi > 59 || S > 60) return whole;
    const t = Date.UTC(Y, M - 1, D, H, Mi, Math.min(S, 59), frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0);
    const back = new Date(t);
    if (back.getUTCFullYear() !== Y || back.getUTCMonth() !== M - 1 || back.getUTCDate() !== D) return whole;
    return jstDateTime(t);
  });
}

/** Japan's offset from UTC in milliseconds (no daylight saving). */
export const JST_MS = 9 * 3_600_000;
