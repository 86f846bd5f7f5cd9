//! The audit log view, the pure parts: the verification in words, short hashes, paging. The
//! kinds' names are those of the incident story (review.ts). Pure.

import type { AuditEntry, AuditPage } from '../backend/types';
import { kindLabel, stepGroup, type StepGroup } from './review';
import { jstStamps } from './duration';

export type Lang = 'ja' | 'en';

export const AUDIT_PAGE = 200;

/** The chain check on top of the list: `✔ 改ざんなし 123件` or `✖ <the error>`. */
export function verifyText(v: AuditPage['verify'], lang: Lang): string {
  if (v.ok) return lang === 'ja' ? `✔ 改ざんなし ${v.entries}件` : `✔ Intact: ${v.entries} entries`;
  const err = v.error || (lang === 'ja' ? '不明なエラー' : 'unknown error');
  return lang === 'ja' ? `✖ 改ざんの可能性: ${err}` : `✖ Verification failed: ${err}`;
}

/** The first 10 hex digits of an entry's hash (enough to compare by eye). */
export function shortHash(h: string): string {
  return h.length > 10 ? h.slice(0, 10) : h;
}

export function auditKind(kind: string, lang: Lang): { label: string; group: StepGroup } {
  return { label: kindLabel(kind, lang), group: stepGroup(kind) };
}

/** Newest first, whatever order arrived (ids grow with time). */
export function newestFirst(entries: readonly AuditEntry[]): AuditEntry[] {
  return [...entries].sort((a, b) => b.id - a.id);
}

/** The id to ask `before` for the next (older) page, or null when this page was the last. */
export function nextBefore(entries: readonly AuditEntry[], limit: number): number | null {
  if (entries.length < limit || entries.length === 0) return null;
  return Math.min(...entries.map((e) => e.id));
}

export interface Place {
  host: string;
  check: string;
}

/** Where each incident of the entries happened (host and check), from the entries that say so:
 * the engine's mail events (`mail_queued`, `mail_sent`, `mail_failed`) carry only the incident
 * number, another entry of the same incident (opened, acknowledged …) names its server. */
export function incidentPlaces(entries: readonly AuditEntry[]): Map<number, Place> {
  const out = new Map<number, Place>();
  for (const e of entries) {
    if (e.incident_id === null || !e.host?.trim()) continue;
    const known = out.get(e.incident_id);
    if (!known) out.set(e.incident_id, { host: e.host, check: e.check ?? '' });
    else if (!known.check && e.check) out.set(e.incident_id, { host: known.host, check: e.check });
  }
  return out;
}

/** The server (and check) an entry is about: its own, else its incident's (`incidentPlaces`,
 * `derived` true), else none (host ''). */
export function entryPlace(e: AuditEntry, places: ReadonlyMap<number, Place>): Place & { derived: boolean } {
  // Entries about no server (an engine start, a report) have no host and no check (null).
  const check = e.check ?? '';
  if (e.host?.trim()) return { host: e.host, check, derived: false };
  const p = e.incident_id !== null ? places.get(e.incident_id) : undefined;
  return p ? { host: p.host, check: check || p.check, derived: true } : { host: '', check, derived: false };
}

/** Entries whose kind, actor, host (its own or its incident's) or detail (as logged, or with its
 * times in JST as shown) contain `text` (case-insensitive). */
export function filterAudit(entries: readonly AuditEntry[], text: string, lang: Lang, places?: ReadonlyMap<number, Place>): AuditEntry[] {
  const q = text.trim().toLowerCase();
  if (!q) return [...entries];
  const where = places ?? incidentPlaces(entries);
  return entries.filter((e) => {
    const p = entryPlace(e, where);
    return [e.kind, kindLabel(e.kind, lang), e.actor ?? '', p.host, p.check, e.detail, jstStamps(e.detail), e.incident_id === null ? '' : `#${e.incident_id}`]
      .some((f) => f.toLowerCase().includes(q));
  });
}
