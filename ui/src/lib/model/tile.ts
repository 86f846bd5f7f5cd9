//! What a tile lists: the failing checks and resources of one server, worst first, with the
//! time each has been failing. Memoised per ServerView object (a delta replaces the object).

import type { ServerView } from '../backend/types';
import { checkName } from './names';

export interface Failing {
  key: string;
  check: string;
  /** Open incident level; null while only soft-failing or suppressed. */
  level: number | null;
  since: string | null;
  suppressed: boolean;
}

const memo = new WeakMap<ServerView, Failing[]>();

export function failing(s: ServerView): Failing[] {
  let out = memo.get(s);
  if (out) return out;
  out = [];
  for (const c of s.checks) {
    if (c.incident !== null || c.ok === false) {
      out.push({
        key: c.check,
        check: c.check,
        level: c.incident !== null ? (c.level ?? 4) : null,
        since: c.since ?? (c.incident !== null ? s.problem_since : null),
        suppressed: c.suppressed !== null,
      });
    }
  }
  for (const r of s.resources) {
    if (r.level !== null && r.level >= 2 && !out.some((f) => f.check === r.resource)) {
      out.push({ key: `r:${r.resource}`, check: r.resource, level: r.level, since: s.problem_since, suppressed: false });
    }
  }
  out.sort((a, b) => (b.level ?? 0) - (a.level ?? 0) || Number(a.suppressed) - Number(b.suppressed));
  memo.set(s, out);
  return out;
}

export function failingText(f: Failing, lang: 'ja' | 'en'): string {
  return checkName(f.check, lang);
}

/** Who has taken this server's open incidents (each name once, in check order). */
export function takenBy(s: ServerView): string[] {
  const out: string[] = [];
  for (const c of s.checks) {
    if (c.incident !== null && c.acknowledged_by && !out.includes(c.acknowledged_by)) out.push(c.acknowledged_by);
  }
  return out;
}
