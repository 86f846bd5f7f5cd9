//! Console actions, the pure parts: an action as its HTTP route and body, what a recovery is
//! called, why the engine did not act (prompt codes) and why it refused (error codes) in words,
//! and when a recovery is billable (spot) and must be confirmed with the customer's consent.
//! docs/console-actions.md is the contract. Pure and unit-tested.

import { BackendError, type Action, type Prompt, type PromptCode, type Recovery, type RecoveryPolicy, type SpotConsent } from '../backend/types';
import { checkName } from './names';
import { businessHoursText, planPolicy, restartable, spotMinYen } from './catalogue';
import { jstTime } from './duration';
import { shortJst } from './maintenance';

export type Lang = 'ja' | 'en';

/** Whether a console of this role may act: anyone but a viewer (operators, admins), and never
 * on a log opened for review. */
export function mayAct(info: { role: string; mode?: string } | null | undefined): boolean {
  return !!info && info.role !== 'viewer' && info.mode !== 'review';
}

export interface Route {
  method: 'POST';
  path: string;
  body: Record<string, unknown>;
}

const seg = (v: string | number) => encodeURIComponent(String(v));

/** Copies the defined fields of `a` named in `keys` (JSON leaves undefined out anyway; this
 * keeps the body free of the fields the route already carries). */
function pick(a: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (a[k] !== undefined && a[k] !== null) out[k] = a[k];
  return out;
}

/** The route of an action (`POST /api/v1/…`) and its JSON body. */
export function actionRoute(a: Action): Route {
  const r = a as unknown as Record<string, unknown>;
  const post = (path: string, body: Record<string, unknown>): Route => ({ method: 'POST', path: `/api/v1${path}`, body });
  switch (a.type) {
    case 'acknowledge':
      return post(`/incidents/${seg(a.incident)}/acknowledge`, a.note?.trim() ? { note: a.note.trim() } : {});
    case 'note':
      return post(`/incidents/${seg(a.incident)}/notes`, { text: a.text });
    case 'recover':
      return post(`/incidents/${seg(a.incident)}/recover`, pick(r, ['consent']));
    case 'reboot':
      return post(`/servers/${seg(a.host)}/reboot`, pick(r, ['consent']));
    case 'restart':
      return post(`/servers/${seg(a.host)}/restart/${seg(a.service)}`, pick(r, ['consent']));
    case 'log_call':
      return post(`/incidents/${seg(a.incident)}/calls`, pick(r, ['number', 'started_at', 'rings', 'outcome', 'answered_by', 'notes']));
    case 'consent':
      return post(`/incidents/${seg(a.incident)}/consents`, pick(r, ['kind', 'amount_yen', 'customer_person', 'note', 'cause']));
    case 'status_report':
      return post(`/incidents/${seg(a.incident)}/status-report`, { subject: a.subject, body: a.body });
    case 'pause':
      return post('/maintenance', pick(r, ['scope', 'starts_at', 'ends_at', 'minutes', 'reason']));
    case 'end_pause':
      return post(`/maintenance/${seg(a.maintenance)}/end`, {});
    case 'extend_pause':
      return post(`/maintenance/${seg(a.maintenance)}/extend`, pick(r, ['ends_at', 'minutes']));
    case 'recover_network':
      return post(`/gateways/${seg(a.gateway)}/recover`, {});
    case 'backup':
      return post(`/servers/${seg(a.host)}/backup`, { full: a.full });
    case 'restore':
      return post(`/servers/${seg(a.host)}/restore`, pick(r, ['generation', 'path', 'to', 'in_place', 'requested_by']));
    case 'refresh_updates':
      return post(`/servers/${seg(a.host)}/updates/refresh`, {});
    case 'plan_updates':
      return post(`/servers/${seg(a.host)}/updates/plan`, { planned_at: a.planned_at });
    case 'apply_updates':
      return post(`/servers/${seg(a.host)}/updates/apply`, { packages: a.packages ?? [], cms: a.cms ?? false });
    case 'request_resource_up':
      return post('/ledger/resource-ups', pick(r, ['host', 'from', 'until', 'what']));
    case 'set_resource_up_state':
      return post(`/ledger/resource-ups/${seg(a.request)}/state`, pick(r, ['state']));
    case 'record_config_work':
      return post('/ledger/config-work', pick(r, ['customer', 'day', 'minutes', 'who', 'what', 'billable']));
  }
}

// ------------------------------------------------------------------------------ what a recovery is

/** The recovery an incident of `check` calls for: a reboot for ping and SSH, a restart of the
 * service for a service, none for anything else (resources, custom ports, the host key). */
export function recoveryFor(check: string): 'reboot' | `restart:${string}` | null {
  if (check === 'ping' || check === 'ssh') return 'reboot';
  if (restartable(check)) return `restart:${check}`;
  return null;
}

export type RecoveryKind = 'reboot' | 'restart';

export function kindOf(action: string): RecoveryKind {
  return action === 'reboot' ? 'reboot' : 'restart';
}

/** `restart:http` → `http`; '' for a reboot. */
export function serviceOf(action: string): string {
  return action.startsWith('restart:') ? action.slice('restart:'.length) : '';
}

/** The button's word: 再起動 (a service) or サーバー再起動. */
export function recoverButtonText(action: string, lang: Lang): string {
  if (kindOf(action) === 'reboot') return lang === 'ja' ? 'サーバー再起動' : 'Reboot server';
  return lang === 'ja' ? '再起動' : 'Restart';
}

/** What the recovery does, in words: `サーバー再起動`, `サービス再起動 (HTTP)`; a prompt's
 * `phone` is the phone escalation. */
export function recoveryName(action: string, lang: Lang, withService = true): string {
  if (action === 'phone') return lang === 'ja' ? '電話エスカレーション' : 'phone escalation';
  if (kindOf(action) === 'reboot') return lang === 'ja' ? 'サーバー再起動' : 'server reboot';
  const svc = serviceOf(action);
  const base = lang === 'ja' ? 'サービス再起動' : 'service restart';
  return withService && svc ? `${base} (${checkName(svc, lang)})` : base;
}

/** Who asked: (自動) for the engine, else the operator. */
export function requesterText(r: Pick<Recovery, 'automatic' | 'requested_by'>, lang: Lang): string {
  if (r.automatic) return lang === 'ja' ? '自動' : 'automatic';
  return r.requested_by || '—';
}

/** The running recovery's label: `復旧中: サービス再起動 (自動)`. */
export function runningText(r: Pick<Recovery, 'action' | 'automatic' | 'requested_by'>, lang: Lang, withService = false): string {
  const name = recoveryName(r.action, lang, false);
  const svc = withService ? serviceOf(r.action) : '';
  const what = svc ? `${name} ${checkName(svc, lang)}` : name;
  return lang === 'ja' ? `復旧中: ${what} (${requesterText(r, lang)})` : `Recovering: ${what} (${requesterText(r, lang)})`;
}

const OUTCOME: Record<string, { ja: string; en: string }> = {
  recovered: { ja: '復旧成功', en: 'recovered' },
  failed: { ja: '復旧失敗', en: 'failed' },
  already_up: { ja: '既に正常（処置なし）', en: 'already up (nothing done)' },
  interrupted: { ja: '中断（エンジン停止）', en: 'interrupted (engine stopped)' },
};

export function outcomeText(outcome: string | null, lang: Lang): string {
  if (!outcome) return lang === 'ja' ? '実行中' : 'running';
  return OUTCOME[outcome]?.[lang] ?? outcome;
}

// ------------------------------------------------------------------------------ prompts and refusals

export const PROMPT_TEXT: Record<PromptCode, { ja: string; en: string }> = {
  not_included: { ja: '契約外', en: 'not in the plan' },
  outside_hours: { ja: '時間外', en: 'outside hours' },
  spot_only: { ja: 'スポット対応（有償）', en: 'spot recovery (billed)' },
  already_tried: { ja: '自動復旧済み（1回）', en: 'already tried automatically (once)' },
  restart_limit: { ja: '24時間に3回の上限', en: 'limit of 3 restarts in 24 h reached' },
  paused: { ja: 'メンテナンス中', en: 'in maintenance' },
  waiting: { ja: '再起動待ち', en: 'waiting to reboot' },
  watchdog: { ja: 'Plesk の自動復旧待ち', en: "waiting for Plesk's watchdog" },
  no_access: { ja: 'SSH ログイン不可（復旧操作できません）', en: 'no SSH access (cannot recover)' },
  escalate: {
    ja: '一次復旧開始から1時間が経過しました。電話エスカレーションを行ってください',
    en: 'An hour has passed since primary recovery began: start the phone escalation',
  },
  escalation_not_included: { ja: '電話エスカレーションはプラン外です', en: 'Phone escalation is not included in the plan' },
};

/** The engine prompts the phone escalation now (contract §9.8): the escalation panel is offered
 * first. */
export function escalationDue(prompt: Pick<Prompt, 'code'> | null | undefined): boolean {
  return prompt?.code === 'escalate';
}

/** Why the engine did not recover by itself, in the console's words from the prompt's code and
 * moment (`at`); the engine's English `message` only for a code this console does not know. */
export function promptText(code: string, lang: Lang, message = '', at: string | null = null, now = Date.now()): string {
  const known = (PROMPT_TEXT as Record<string, { ja: string; en: string }>)[code];
  if (!known) return message || code;
  const when = at ? shortJst(at, now) : '';
  // The hours are the engine's catalogue's, not written here.
  if (code === 'outside_hours' && businessHoursText()) {
    const h = businessHoursText();
    if (when) return lang === 'ja' ? `${known.ja}（平日${h}時のみ・${when} から自動）` : `${known.en} (weekdays ${h} only; automatic from ${when})`;
    return lang === 'ja' ? `${known.ja}（平日${h}時のみ）` : `${known.en} (weekdays ${h} only)`;
  }
  if (code === 'waiting' && when) return lang === 'ja' ? `${known.ja}（${when} に自動再起動）` : `${known.en} (automatic reboot at ${when})`;
  if (code === 'watchdog' && when) return lang === 'ja' ? `${known.ja}（${when} までに戻らなければ再起動）` : `${known.en} (restarted at ${when} if still down)`;
  return known[lang];
}

/** Why an action cannot work now (the engine's availability codes that hold the button back):
 * shown where the button would be. */
const UNAVAILABLE_TEXT: Record<string, { ja: string; en: string }> = {
  no_access: { ja: 'SSH ログイン不可', en: 'no SSH access' },
  no_action: { ja: '実行手段なし', en: 'no means to do it' },
  not_included: { ja: '契約外', en: 'not in the plan' },
};

/** `action` (`reboot`, `restart:SERVICE`, `phone`) cannot work because of `code`, in words. */
export function unavailableText(action: string, code: string, lang: Lang): string {
  const noReboot = code === 'no_action' && action === 'reboot';
  const why = noReboot ? (lang === 'ja' ? '再起動手段が未設定' : 'no reboot action set') : (UNAVAILABLE_TEXT[code]?.[lang] ?? code);
  const name = action === 'phone' ? (lang === 'ja' ? '電話連絡' : 'phone escalation') : recoveryName(action, lang, false);
  return lang === 'ja' ? `${name}不可: ${why}` : `${name} unavailable: ${why}`;
}

const ERROR_TEXT: Record<string, { ja: string; en: string }> = {
  not_found: { ja: '対象が見つかりません', en: 'not found' },
  closed: { ja: 'この障害は既にクローズされています', en: 'the incident is already closed' },
  taken: { ja: '他のオペレーターが対応中です', en: 'another operator has taken it' },
  conflict: { ja: '他の操作と競合しました', en: 'conflicts with another change' },
  busy: { ja: 'このサーバーの復旧作業が実行中です', en: 'a recovery of this server is running' },
  needs_consent: { ja: 'スポット対応（有償）です。顧客の承諾が必要です', en: "a billable spot recovery: the customer's consent is needed" },
  not_included: { ja: '契約に含まれていません（または時間外です）', en: 'not included in the plan (or outside hours)' },
  no_action: { ja: 'この障害に行える復旧作業はありません', en: 'nothing to recover for this kind of incident' },
  invalid: { ja: '入力内容が正しくありません', en: 'a field is missing or out of range' },
  over_allowance: {
    ja: '今月の設定作業の残り時間を超えます。有償作業として記録してください',
    en: "over the month's included configuration work: record it as billable",
  },
  needs_call: {
    ja: '承諾済みの金額を超えています。前回の承諾の後に顧客と電話で話し（応答ありの通話を記録）、改めて承諾を得てください',
    en: 'beyond the consented amount: call the customer (log the answered call after the latest consent) and ask again',
  },
  stopped: { ja: 'エンジンが停止しています', en: 'the engine is stopped' },
  store_unavailable: {
    ja: 'ストアが書き込みを受け付けていません（エンジンの警報を参照）。しばらくしてから再度お試しください',
    en: 'the store does not accept writes at the moment (see the engine alarm): try again shortly',
  },
  // Edits of the fleet file (model/fleet-edit).
  stale: {
    ja: 'フリートファイルが他で変更されました。最新の内容を読み直してから、もう一度編集してください',
    en: 'The fleet file changed meanwhile: it was read again, make the edit once more',
  },
  has_servers: { ja: 'この顧客にはまだサーバーがあります', en: 'the customer still has servers' },
  plan_needs_date: { ja: 'プラン変更には適用開始日が必要です', en: 'a plan change needs the day it takes effect' },
  plan_start_unknown: {
    ja: 'プラン履歴がないため、契約開始日を入力してください',
    en: "no plan history: give the contract's start",
  },
  forbidden: { ja: '閲覧専用のトークンでは操作できません', en: 'a viewer token cannot act' },
  '403': { ja: '閲覧専用のトークンでは操作できません', en: 'a viewer token cannot act' },
};

/** A refused action in words: the code's text, then the engine's message. */
export function errorText(code: string, message: string, lang: Lang): string {
  const known = ERROR_TEXT[code]?.[lang];
  if (!known) return message || code || 'error';
  return message && message !== code ? `${known} (${message})` : known;
}

/** A `busy` refusal: who started the running recovery and when. */
export function busyText(running: Pick<Recovery, 'action' | 'requested_by' | 'automatic' | 'started_at'> | null, message: string, lang: Lang): string {
  if (!running) return errorText('busy', message, lang);
  const who = requesterText(running, lang);
  const when = jstTime(running.started_at);
  const what = recoveryName(running.action, lang);
  return lang === 'ja'
    ? `復旧作業が実行中です: ${what} — ${who} が ${when} に開始`
    : `A recovery is running: ${what} — started by ${who} at ${when}`;
}

// ------------------------------------------------------------------------------ spot and consent

/** Whether a recovery will likely be billed (spot) now: a reboot the plan offers only as spot,
 * or a reboot included in business hours when the engine says it is not business hours now
 * (`Health.business_hours`: the engine's clock and its holidays). Service restarts are never spot
 * (no plan sells them). `policy`: the customer's entitlement when known (else the plan's, from the
 * catalogue). */
export function spotExpected(kind: RecoveryKind, plan: string, businessHours: boolean, policy?: RecoveryPolicy): boolean {
  if (kind !== 'reboot') return false;
  const p = policy ?? planPolicy(kind, plan);
  if (p === 'spot') return true;
  return p === 'business_hours' && !businessHours;
}

/** Whether to offer a recovery button at all: not when the plan never includes it. */
export function recoveryOffered(kind: RecoveryKind, plan: string, policy?: RecoveryPolicy): boolean {
  return (policy ?? planPolicy(kind, plan)) !== 'none';
}

/** Every reboot and every billable action is confirmed first. */
export function needsConfirm(kind: RecoveryKind, spot: boolean): boolean {
  return kind === 'reboot' || spot;
}

/** What is wrong with a consent form ('' when it can be sent). */
export function consentProblem(person: string, amount: number | string, min = spotMinYen()): '' | 'person' | 'amount' {
  if (!person.trim()) return 'person';
  const n = typeof amount === 'number' ? amount : Number(String(amount).replace(/[,，\s円]/g, ''));
  if (!Number.isFinite(n) || !Number.isInteger(n) || n < min) return 'amount';
  return '';
}

/** The consent of a form, or null when it is not complete. */
export function spotConsent(person: string, amount: number | string): SpotConsent | null {
  if (consentProblem(person, amount)) return null;
  const n = typeof amount === 'number' ? amount : Number(String(amount).replace(/[,，\s円]/g, ''));
  return { customer_person: person.trim(), amount_yen: n };
}

/** Yen as people read it: `20,000 円`. */
export function yen(n: number, lang: Lang = 'ja'): string {
  const s = Math.round(n).toLocaleString('en-US');
  return lang === 'ja' ? `${s} 円` : `¥${s}`;
}

/** Any failed request in words: a refusal by its code (and the engine's message), else the
 * message. */
export function describeError(err: unknown, lang: Lang): string {
  if (err instanceof BackendError) {
    if (err.detail === 'busy') {
      const data = err.data as { recovery?: Recovery } | null;
      const r = data && typeof data === 'object' && data.recovery && typeof data.recovery === 'object' ? data.recovery : null;
      return busyText(r && typeof r.started_at === 'string' ? r : null, err.message, lang);
    }
    return errorText(err.detail, err.message, lang);
  }
  return err instanceof Error ? err.message : String(err);
}
