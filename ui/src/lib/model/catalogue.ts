//! The engine's catalogue as the console uses it: names of checks, which services can be
//! restarted, resource thresholds for a server's CPUs, plan entitlements, the yen limits, the causes
//! of charges. The
//! console keeps no copy of these rules: the catalogue comes from the engine when the console
//! starts (`Backend.catalogue()`), is registered here once, and these functions read it. Before it
//! arrives (or from an engine too old to send one) names are the check ids and nothing is
//! offered that needs a rule. Pure apart from that one registration.

import type { Catalogue, Entitlements, RecoveryPolicy } from '../backend/types';

type Lang = 'ja' | 'en';

let current: Catalogue | null = null;

/** Registers the engine's catalogue (the console does this once, before drawing). */
export function useCatalogue(c: Catalogue | null): void {
  current = c;
}

/** The registered catalogue, or null before the engine sent one. */
export function catalogue(): Catalogue | null {
  return current;
}

/** A check's name on the console: `HTTP`, `/ の使用率`; a custom check's own name. */
export function checkLabel(check: string, lang: Lang): string {
  if (check.startsWith('custom:')) return check.slice('custom:'.length);
  const e = current?.checks.find((c) => c.id === check);
  return e ? (lang === 'ja' ? e.name_ja : e.name_en) : check;
}

/** Every check id the engine gives incidents, in the catalogue's order (the review's filter). */
export function checkIds(): string[] {
  return current?.checks.map((c) => c.id) ?? [];
}

/** Whether the engine can restart the service of this check id. */
export function restartable(check: string): boolean {
  return !!current?.services.find((s) => s.id === check)?.restartable;
}

/** The thresholds of a resource for a server with `cpus` CPUs (Lv.2, Lv.3, Lv.4), with the
 * resource's unit; empty for an unknown resource. */
export function thresholdsOf(resource: string, cpus: number | null | undefined): { values: number[]; unit: string } {
  const r = current?.resources.find((e) => e.id === resource);
  if (!r) return { values: [], unit: '' };
  const k = r.per_cpu ? Math.max(1, cpus ?? 0) : 1;
  // A per-CPU threshold of a server whose CPUs are not known yet is not drawn (it would mislead).
  if (r.per_cpu && !cpus) return { values: [], unit: r.unit };
  return { values: r.thresholds.map((t) => t.value * k), unit: r.unit };
}

/** The resources the engine polls, in the catalogue's order, with their names. */
export function resourceList(lang: Lang): { id: string; name: string; unit: string }[] {
  return (current?.resources ?? []).map((r) => ({ id: r.id, name: lang === 'ja' ? r.name_ja : r.name_en, unit: r.unit }));
}

/** What a plan includes, from the catalogue (when a customer's own entitlements are not at hand). */
export function planEntitlements(plan: string): Entitlements | undefined {
  return current?.plans.find((p) => p.id === plan)?.entitlements;
}

/** What a plan includes of a kind of recovery; undefined when unknown. */
export function planPolicy(kind: 'reboot' | 'restart', plan: string): RecoveryPolicy | undefined {
  const e = planEntitlements(plan);
  return e ? (kind === 'reboot' ? e.server_recovery : e.service_recovery) : undefined;
}

/** The least a spot recovery costs, in yen (0 before the catalogue arrives: the engine checks). */
export function spotMinYen(): number {
  return current?.spot_min_yen ?? 0;
}

/** What an investigation may cost without asking the customer again (Infinity before the
 * catalogue arrives: the engine checks). */
export function investigationCapYen(): number {
  return current?.investigation_cap_yen ?? Number.POSITIVE_INFINITY;
}

/** The causes of a charge a consent records (contract §9.8), in the catalogue's order, with their
 * names (empty before the catalogue arrives). */
export function chargeCauses(lang: Lang): { id: string; name: string }[] {
  return (current?.charge_causes ?? []).map((c) => ({ id: c.id, name: lang === 'ja' ? c.name_ja : c.name_en }));
}

/** A cause's name (the id itself when the catalogue does not know it). */
export function causeName(id: string, lang: Lang): string {
  const c = current?.charge_causes.find((e) => e.id === id);
  return c ? (lang === 'ja' ? c.name_ja : c.name_en) : id;
}

/** Business hours as words: `9–18`. */
export function businessHoursText(): string {
  const h = current?.business_hours;
  return h ? `${h.start_hour}–${h.end_hour}` : '';
}
