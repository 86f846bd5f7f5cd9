//! The operator's filters (customer, plan, level, text) as one pure predicate.

import type { ServerView } from '../backend/types';
import type { Entry } from './fleet';

export type LevelFilter = 'all' | 'problems' | '3' | '4' | '5';

export interface Filter {
  customer: string; // '' = all
  /** A plan as the engine names it (`ServerView.plan`), or `all`. */
  plan: string;
  level: LevelFilter;
  text: string;
}

export const NO_FILTER: Filter = { customer: '', plan: 'all', level: 'all', text: '' };

const haystacks = new WeakMap<ServerView, string>();

function haystack(s: ServerView): string {
  let h = haystacks.get(s);
  if (h === undefined) {
    h = [s.label, s.customer, s.customer_name, s.fqdn, s.ip].join('\u0000').toLowerCase();
    haystacks.set(s, h);
  }
  return h;
}

export function isEmpty(f: Filter): boolean {
  return !f.customer && f.plan === 'all' && f.level === 'all' && !f.text.trim();
}

export function matches(e: Entry, f: Filter): boolean {
  const s = e.server;
  if (f.customer && s.customer !== f.customer) return false;
  if (f.plan !== 'all' && s.plan !== f.plan) return false;
  if (f.level !== 'all') {
    const lvl = s.maintenance ? 0 : (s.worst_level ?? 0);
    const min = f.level === 'problems' ? 2 : Number(f.level);
    if (lvl < min) return false;
  }
  const words = f.text.trim().toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length) {
    const h = haystack(s);
    for (const w of words) if (!h.includes(w)) return false;
  }
  return true;
}

export function applyFilter(order: readonly Entry[], f: Filter): readonly Entry[] {
  return isEmpty(f) ? order : order.filter((e) => matches(e, f));
}
