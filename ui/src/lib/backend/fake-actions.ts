//! The fake backend's helpers for console actions: which prompt the engine would show for an
//! incident, the prefilled status report, and a hash-chained audit log. Deterministic; no
//! transport. Used by fake.ts only (and its tests).

import type { AuditEntry, Call, Customer, Prompt, RecoveryPolicy, ReviewIncident } from './types';
import { recoveryFor, kindOf } from '../model/actions';
import { JST_MS } from '../model/duration';
import { jstDateTime } from '../model/duration';
import { outcomeName } from '../model/escalation';
import { checkName } from '../model/names';

/** The fake engine's own clock rule (the console asks the real engine; this goes with the fake). */
export function inBusinessHours(now: number): boolean {
  const d = new Date(now + JST_MS);
  const day = d.getUTCDay();
  const h = d.getUTCHours();
  return day >= 1 && day <= 5 && h >= 9 && h < 18;
}

/** What a plan includes of server (reboot) and service (restart) recovery (contract §1). */
export function policies(plan: string): { server: RecoveryPolicy; service: RecoveryPolicy } {
  if (plan === '150' || plan === '200') return { server: 'always', service: 'always' };
  if (plan === '60') return { server: 'business_hours', service: 'business_hours' };
  if (plan === '30') return { server: 'spot', service: 'none' };
  return { server: 'none', service: 'none' };
}

/** The engine waits this long of ping/SSH failure before a reboot (contract §4). */
export const REBOOT_WAIT_MS = 15 * 60_000;

/**
 * The prompt the engine shows for an open incident of `check` on a server of `plan`, opened at
 * `since`, at `now`: null when it recovers by itself (or nothing can be recovered).
 * `paused`: the server is in maintenance. `tried`: the one automatic attempt was made.
 */
export function fakePrompt(plan: string, check: string, since: number, now: number, opts: { paused?: boolean; tried?: boolean } = {}): Prompt | null {
  const action = recoveryFor(check);
  if (!action) return null;
  const p = (code: string, message: string): Prompt => ({ action, code, message });
  if (opts.paused) return p('paused', 'the server is in maintenance: no automatic recovery');
  const kind = kindOf(action);
  const pol = policies(plan)[kind === 'reboot' ? 'server' : 'service'];
  const hours = inBusinessHours(now);
  if (pol === 'none') return p('not_included', `the plan does not include ${kind === 'reboot' ? 'server' : 'service'} recovery`);
  if (pol === 'spot') return p('spot_only', 'spot recovery: billed, needs the customer’s consent');
  if (pol === 'business_hours' && !hours) {
    return kind === 'reboot'
      ? p('spot_only', 'outside weekdays 9–18: a spot recovery (billed)')
      : p('outside_hours', 'the plan includes it on weekdays 9–18 only');
  }
  if (opts.tried) return p('already_tried', 'one automatic attempt was made for this incident');
  if (kind === 'reboot' && now - since < REBOOT_WAIT_MS) {
    const at = jstDateTime(since + REBOOT_WAIT_MS).slice(11, 16);
    return p('waiting', `a reboot waits for 15 minutes of failure: at ${at} JST`);
  }
  return null;
}

/** The prefilled 状況報告 mail (contract §4: nobody answered the phone). */
export function statusReport(
  inc: Pick<ReviewIncident, 'id' | 'host' | 'check' | 'trigger' | 'opened_at'>,
  customer: Customer | undefined,
  calls: readonly Call[],
  brand = 'Speever',
): { to: string[]; subject: string; body: string } {
  const name = customer?.name ?? '';
  const lines = calls.map(
    (c) => `・${jstDateTime(c.started_at)} ${c.number}（${c.rings}回呼出）${outcomeName(c.outcome, 'ja')}${c.answered_by ? ` ${c.answered_by}様` : ''}`,
  );
  const body = [
    `${name} ご担当者様`,
    '',
    `いつも ${brand} をご利用いただきありがとうございます。`,
    `監視中のサーバー「${inc.host}」で障害を検知し、一次復旧を試みましたが、復旧に至っておりません。`,
    'ご登録の緊急連絡先にお電話いたしましたが、ご担当者様と連絡が取れませんでしたので、',
    '本メールにて状況をご報告いたします。',
    '',
    '----------------------------------------',
    `障害名　　　：${inc.trigger}`,
    `チェック　　：${checkName(inc.check, 'ja')}`,
    `発生日時　　：${jstDateTime(inc.opened_at)}`,
    `障害番号　　：#${inc.id}`,
    '----------------------------------------',
    '',
    'お電話の記録：',
    ...(lines.length ? lines : ['・（記録なし）']),
    '',
    '今後の対応についてご指示をいただけますよう、お願い申し上げます。',
    '原因調査・復旧作業に費用が発生する場合は、事前にお見積りをご連絡いたします。',
    '',
    `${brand} NOC`,
  ].join('\n');
  return { to: customer?.notify ?? [], subject: `[${brand}] ${inc.host} 障害対応状況のご報告（#${inc.id}）`, body };
}

/** FNV-1a, twice with different seeds: 16 hex digits (a stand-in for the engine's SHA-256). */
export function fakeHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193 + 2) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/** An append-only, hash-chained log (oldest first in memory). */
export class FakeAudit {
  readonly entries: AuditEntry[] = [];

  append(e: Omit<AuditEntry, 'id' | 'hash'>): AuditEntry {
    const prev = this.entries.length ? this.entries[this.entries.length - 1].hash : '';
    const id = this.entries.length + 1;
    const hash = fakeHash(`${prev}|${id}|${e.at}|${e.kind}|${e.actor}|${e.incident_id ?? ''}|${e.host}|${e.check}|${e.detail}`);
    const entry = { ...e, id, hash };
    this.entries.push(entry);
    return entry;
  }

  /** Re-computes the chain: the first broken entry, if any. */
  verify(): { ok: boolean; entries: number; error: string | null } {
    let prev = '';
    for (const e of this.entries) {
      const want = fakeHash(`${prev}|${e.id}|${e.at}|${e.kind}|${e.actor}|${e.incident_id ?? ''}|${e.host}|${e.check}|${e.detail}`);
      if (want !== e.hash) return { ok: false, entries: this.entries.length, error: `entry ${e.id}: hash mismatch` };
      prev = e.hash;
    }
    return { ok: true, entries: this.entries.length, error: null };
  }

  /** Newest first: `limit` entries older than the id `before`. */
  page(limit = 200, before?: number): AuditEntry[] {
    const out: AuditEntry[] = [];
    for (let i = this.entries.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.entries[i];
      if (before !== undefined && e.id >= before) continue;
      out.push(e);
    }
    return out;
  }
}

/** The actor of a story step: `by NAME` in its detail, else the engine. */
export function actorOf(detail: string): string {
  const m = /^by ([^\s:]+)/.exec(detail);
  return m ? m[1] : 'engine';
}
