//! Secondary recovery (二次対応): the phone escalation of an incident, the pure parts. The
//! emergency numbers are called in order, 10 rings each; the first person who answers is
//! consulted. When every number of a round failed, a status report goes to the notification
//! addresses. Cost consents: up to what was consented (the engine says how much), then ask the
//! customer again on the phone. Pure.

import type { Call, CallOutcome, Consent, Escalation } from '../backend/types';
import { JST_MS } from './duration';

export type Lang = 'ja' | 'en';

/** Outcomes as the call form offers them (voicemail counts as no answer). */
export const OUTCOMES: readonly CallOutcome[] = ['answered', 'no_answer', 'busy', 'voicemail'];

const OUTCOME_TEXT: Record<CallOutcome, { ja: string; en: string }> = {
  answered: { ja: '応答あり', en: 'answered' },
  no_answer: { ja: '応答なし', en: 'no answer' },
  busy: { ja: '話し中', en: 'busy' },
  voicemail: { ja: '留守電（応答なし）', en: 'voicemail (no answer)' },
};

export function outcomeName(o: string, lang: Lang): string {
  return (OUTCOME_TEXT as Record<string, { ja: string; en: string }>)[o]?.[lang] ?? o;
}

export const answered = (o: string) => o === 'answered';

export const DEFAULT_RINGS = 10;

export interface EscalationState {
  /** Index in `phones` of the number to call next (null: no numbers). */
  next: number | null;
  /** The current round ended with an answer. */
  answered: boolean;
  /** Every number of the current round was called without an answer. */
  exhausted: boolean;
  /** Numbers (indexes) already called in the current round without an answer. */
  failed: number[];
  /** 1-based round number (a round ends with an answer or when every number failed). */
  round: number;
  /** Per number (index in `phones`): the outcome of its last call in the current round, or of
   * the round that just ended (answered or exhausted); null when not called in it. What the
   * panel shows beside the number (応答なし / 話し中 / 留守電 / 応答あり). */
  last: (CallOutcome | null)[];
}

const norm = (p: string) => p.replace(/[^0-9+]/g, '');

/** Where the escalation stands after `calls` (any order; sorted by time here). A round calls the
 * numbers in order; it ends when someone answers or when every number was called without an
 * answer. The next number is the first one not yet tried in the current round (after a round
 * ended, the first one again). */
export function escalationState(phones: readonly string[], calls: readonly Pick<Call, 'number' | 'started_at' | 'outcome'>[]): EscalationState {
  const sorted = [...calls].sort((a, b) => a.started_at.localeCompare(b.started_at));
  const idx = (n: string) => phones.findIndex((p) => norm(p) === norm(n));
  let round = 1;
  let failed = new Set<number>();
  let last: (CallOutcome | null)[] = phones.map(() => null);
  let ended: 'answered' | 'exhausted' | null = null;
  for (const c of sorted) {
    if (ended) {
      round += 1;
      failed = new Set();
      last = phones.map(() => null);
      ended = null;
    }
    const i = idx(c.number);
    if (i >= 0) last[i] = c.outcome as CallOutcome;
    if (answered(c.outcome)) {
      ended = 'answered';
      continue;
    }
    if (i >= 0) failed.add(i);
    if (phones.length > 0 && phones.every((_, k) => failed.has(k))) ended = 'exhausted';
  }
  let next: number | null = null;
  if (phones.length) {
    if (ended) next = 0;
    else {
      const k = phones.findIndex((_, j) => !failed.has(j));
      next = k < 0 ? 0 : k;
    }
  }
  return {
    next,
    answered: ended === 'answered',
    exhausted: ended === 'exhausted',
    failed: ended ? [] : [...failed].sort((a, b) => a - b),
    round,
    last,
  };
}

// ------------------------------------------------------------------------------ cost consent

export interface ConsentState {
  /** Every consented amount of the incident, added up. */
  total: number;
  /** The investigation consents only. */
  investigation: number;
  /** An earlier consent exists (a new one means the customer was asked again). */
  any: boolean;
}

export function consentState(consents: readonly Pick<Consent, 'kind' | 'amount_yen'>[]): ConsentState {
  let total = 0;
  let investigation = 0;
  for (const c of consents) {
    total += c.amount_yen;
    if (c.kind === 'investigation') investigation += c.amount_yen;
  }
  return { total, investigation, any: consents.length > 0 };
}

/** Whether the engine would refuse this investigation consent `needs_call` (contract §9.8): the
 * amount goes beyond what it records without a new call (`consent_without_call_yen`, the engine's
 * rule; null: the customer was asked again). */
export function needsCall(amount: number, esc: Pick<Escalation, 'consent_without_call_yen'>): boolean {
  const limit = esc.consent_without_call_yen;
  return limit !== null && limit !== undefined && amount > limit;
}

/** `datetime-local` value (JST wall time) of an instant: `YYYY-MM-DDTHH:MM`. */
export function jstLocal(ms: number): string {
  return new Date(ms + JST_MS).toISOString().slice(0, 16);
}

/** An instant from a `datetime-local` value read as JST; NaN when not one. */
export function fromJstLocal(v: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(v.trim());
  if (!m) return NaN;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number(x ?? 0));
  const t = Date.UTC(y, mo - 1, d, h, mi, s || 0);
  const back = new Date(t);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59) return NaN;
  return t - JST_MS;
}

/** `tel:` link of a number as written (digits and +). */
export function telHref(p: string): string {
  return `tel:${norm(p)}`;
}
