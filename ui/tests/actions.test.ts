import { describe, expect, it } from 'vitest';
import {
  actionRoute, busyText, consentProblem, describeError, errorText, escalationDue, kindOf, needsConfirm,
  promptText, recoverButtonText, recoveryFor, recoveryName, recoveryOffered, runningText, serviceOf, spotConsent,
  spotExpected, unavailableText, yen, PROMPT_TEXT,
} from '../src/lib/model/actions';
import { causeName, chargeCauses, planPolicy, spotMinYen } from '../src/lib/model/catalogue';
import { consentState, escalationState, fromJstLocal, jstLocal, needsCall, outcomeName, telHref } from '../src/lib/model/escalation';
import {
  badgeText, emptyPauseForm, pauseAction, scopeText, shortJst, sortWindows, windowState, windowText,
} from '../src/lib/model/maintenance';
import { filterAudit, nextBefore, shortHash, verifyText, newestFirst } from '../src/lib/model/audit';
import { kindLabel, stepGroup, stepLabel } from '../src/lib/model/review';
import { BackendError, type Action, type AuditEntry, type MaintenanceWindow } from '../src/lib/backend/types';

// 2026-11-30 is a Monday.
const MON_10 = Date.parse('2026-11-30T01:00:00Z'); // 10:00 JST
const MON_0859 = Date.parse('2026-11-29T23:59:00Z'); // 08:59 JST Monday
const MON_18 = Date.parse('2026-11-30T09:00:00Z'); // 18:00 JST
const SAT_10 = Date.parse('2026-11-28T01:00:00Z'); // Saturday 10:00 JST

describe('action → route', () => {
  const cases: [Action, string, Record<string, unknown>][] = [
    [{ type: 'acknowledge', incident: 7, note: '  電話中 ' }, '/api/v1/incidents/7/acknowledge', { note: '電話中' }],
    [{ type: 'acknowledge', incident: 7 }, '/api/v1/incidents/7/acknowledge', {}],
    [{ type: 'note', incident: 7, text: 'メモ' }, '/api/v1/incidents/7/notes', { text: 'メモ' }],
    [{ type: 'recover', incident: 7 }, '/api/v1/incidents/7/recover', {}],
    [
      { type: 'recover', incident: 7, consent: { customer_person: '山田様', amount_yen: 20000 } },
      '/api/v1/incidents/7/recover',
      { consent: { customer_person: '山田様', amount_yen: 20000 } },
    ],
    [{ type: 'reboot', host: 'web 01/x' }, '/api/v1/servers/web%2001%2Fx/reboot', {}],
    [{ type: 'restart', host: 'web01', service: 'http' }, '/api/v1/servers/web01/restart/http', {}],
    [
      { type: 'log_call', incident: 9, number: '03-1234-5678', rings: 10, outcome: 'no_answer', notes: 'x' },
      '/api/v1/incidents/9/calls',
      { number: '03-1234-5678', rings: 10, outcome: 'no_answer', notes: 'x' },
    ],
    [
      { type: 'consent', incident: 9, kind: 'investigation', amount_yen: 30000, customer_person: '佐藤様', cause: 'attack' },
      '/api/v1/incidents/9/consents',
      { kind: 'investigation', amount_yen: 30000, customer_person: '佐藤様', cause: 'attack' },
    ],
    [{ type: 'status_report', incident: 9, subject: 's', body: 'b' }, '/api/v1/incidents/9/status-report', { subject: 's', body: 'b' }],
    [
      { type: 'pause', scope: { kind: 'customer', id: 'c1001' }, minutes: 60, reason: 'OS 更新' },
      '/api/v1/maintenance',
      { scope: { kind: 'customer', id: 'c1001' }, minutes: 60, reason: 'OS 更新' },
    ],
    [{ type: 'end_pause', maintenance: 3 }, '/api/v1/maintenance/3/end', {}],
    [{ type: 'extend_pause', maintenance: 3, minutes: 30 }, '/api/v1/maintenance/3/extend', { minutes: 30 }],
    [
      { type: 'request_resource_up', host: 'web01', from: '2026-12-10', until: '2026-12-20', what: 'メモリ 8 GB' },
      '/api/v1/ledger/resource-ups',
      { host: 'web01', from: '2026-12-10', until: '2026-12-20', what: 'メモリ 8 GB' },
    ],
    [{ type: 'set_resource_up_state', request: 4, state: 'raised' }, '/api/v1/ledger/resource-ups/4/state', { state: 'raised' }],
    [{ type: 'recover_network', gateway: 'gw-a' }, '/api/v1/gateways/gw-a/recover', {}],
    [{ type: 'backup', host: 'web01', full: false }, '/api/v1/servers/web01/backup', { full: false }],
    [
      { type: 'restore', host: 'web01', generation: 12, path: '/srv/data', to: '/srv/x', in_place: false, requested_by: '山田様' },
      '/api/v1/servers/web01/restore',
      { generation: 12, path: '/srv/data', to: '/srv/x', in_place: false, requested_by: '山田様' },
    ],
    [
      { type: 'restore', host: 'web01', generation: 12, path: null, to: null, in_place: true, requested_by: null },
      '/api/v1/servers/web01/restore',
      { generation: 12, in_place: true },
    ],
    [{ type: 'refresh_updates', host: 'web01' }, '/api/v1/servers/web01/updates/refresh', {}],
    [
      { type: 'plan_updates', host: 'web 01', planned_at: '2026-12-04T01:00:00Z' },
      '/api/v1/servers/web%2001/updates/plan',
      { planned_at: '2026-12-04T01:00:00Z' },
    ],
    [{ type: 'apply_updates', host: 'web01' }, '/api/v1/servers/web01/updates/apply', { packages: [], cms: false }],
    [
      { type: 'apply_updates', host: 'web01', packages: ['openssl-libs', 'kernel'] },
      '/api/v1/servers/web01/updates/apply',
      { packages: ['openssl-libs', 'kernel'], cms: false },
    ],
    [{ type: 'apply_updates', host: 'web01', cms: true }, '/api/v1/servers/web01/updates/apply', { packages: [], cms: true }],
    [
      { type: 'record_config_work', customer: 'c1001', day: '2026-12-02', minutes: 30, who: '鈴木', what: 'php.ini', billable: true },
      '/api/v1/ledger/config-work',
      { customer: 'c1001', day: '2026-12-02', minutes: 30, who: '鈴木', what: 'php.ini', billable: true },
    ],
  ];
  it.each(cases)('%#: %o', (a, path, body) => {
    const r = actionRoute(a);
    expect(r.method).toBe('POST');
    expect(r.path).toBe(path);
    expect(r.body).toEqual(body);
  });
  it('never repeats the route fields in the body', () => {
    const r = actionRoute({ type: 'log_call', incident: 9, number: '1', outcome: 'answered', answered_by: '山田様' });
    expect(r.body).not.toHaveProperty('incident');
    expect(r.body).not.toHaveProperty('type');
  });
});

describe('what a recovery is', () => {
  it('reboots for ping and SSH, restarts a service, nothing for resources and custom ports', () => {
    expect(recoveryFor('ping')).toBe('reboot');
    expect(recoveryFor('ssh')).toBe('reboot');
    expect(recoveryFor('http')).toBe('restart:http');
    expect(recoveryFor('postgresql')).toBe('restart:postgresql');
    expect(recoveryFor('disk')).toBeNull();
    expect(recoveryFor('custom:app')).toBeNull();
  });
  it('names the button and the running recovery', () => {
    expect(recoverButtonText('reboot', 'ja')).toBe('サーバー再起動');
    expect(recoverButtonText('restart:http', 'ja')).toBe('再起動');
    expect(recoveryName('restart:http', 'ja')).toBe('サービス再起動 (HTTP)');
    expect(kindOf('restart:smtp')).toBe('restart');
    expect(serviceOf('restart:smtp')).toBe('smtp');
    expect(serviceOf('reboot')).toBe('');
    expect(runningText({ action: 'restart:http', automatic: true, requested_by: 'engine' }, 'ja')).toBe('復旧中: サービス再起動 (自動)');
    expect(runningText({ action: 'reboot', automatic: false, requested_by: 'yamada' }, 'ja')).toBe('復旧中: サーバー再起動 (yamada)');
    expect(runningText({ action: 'restart:http', automatic: true, requested_by: 'engine' }, 'ja', true)).toBe('復旧中: サービス再起動 HTTP (自動)');
    expect(runningText({ action: 'reboot', automatic: true, requested_by: 'engine' }, 'en')).toBe('Recovering: server reboot (automatic)');
  });
});

describe('prompt codes and refusals in words', () => {
  it('translates every prompt code', () => {
    expect(promptText('not_included', 'ja')).toBe('契約外');
    expect(promptText('outside_hours', 'ja')).toBe('時間外（平日9–18時のみ）');
    expect(promptText('spot_only', 'ja')).toBe('スポット対応（有償）');
    expect(promptText('already_tried', 'ja')).toBe('自動復旧済み（1回）');
    expect(promptText('restart_limit', 'ja')).toBe('24時間に3回の上限');
    expect(promptText('paused', 'ja')).toBe('メンテナンス中');
    expect(promptText('waiting', 'ja')).toBe('再起動待ち');
    // The moment comes as data and is written in the console's words (no English sentence).
    const now = Date.parse('2026-11-30T03:00:00Z');
    expect(promptText('waiting', 'ja', 'automatic reboot at 2026/11/30 12:15:00 if still down', '2026-11-30T03:15:00Z', now)).toBe('再起動待ち（12:15 に自動再起動）');
    expect(promptText('outside_hours', 'ja', 'x', '2026-12-01T00:00:00Z', now)).toBe('時間外（平日9–18時のみ・12/1 09:00 から自動）');
    for (const code of Object.keys(PROMPT_TEXT)) expect(promptText(code, 'en')).not.toBe(code);
  });
  it('words the hour of primary recovery in Japanese, never the engine English', () => {
    const msg = 'an hour of primary recovery since 2026/11/30 10:00:00 without recovery: start the phone escalation';
    expect(promptText('escalate', 'ja', msg, '2026-11-30T02:00:00Z')).toBe('一次復旧開始から1時間が経過しました。電話エスカレーションを行ってください');
    expect(promptText('escalation_not_included', 'ja', 'x', '2026-11-30T02:00:00Z')).toBe('電話エスカレーションはプラン外です');
    expect(promptText('escalate', 'en', msg)).not.toBe(msg);
    expect(recoveryName('phone', 'ja')).toBe('電話エスカレーション');
    expect(escalationDue({ code: 'escalate' })).toBe(true);
    expect(escalationDue({ code: 'escalation_not_included' })).toBe(false);
    expect(escalationDue({ code: 'already_tried' })).toBe(false);
    expect(escalationDue(null)).toBe(false);
  });
  it('shows the engine message for a code it does not know', () => {
    expect(promptText('new_code', 'ja', 'something new')).toBe('something new');
    expect(promptText('new_code', 'ja')).toBe('new_code');
  });
  it('explains refusals by code, keeping the engine message', () => {
    expect(errorText('needs_consent', 'spot', 'ja')).toContain('顧客の承諾が必要');
    expect(errorText('not_included', '', 'ja')).toBe('契約に含まれていません（または時間外です）');
    expect(errorText('weird', 'a message', 'ja')).toBe('a message');
    expect(errorText('needs_call', 'beyond 50,000 yen', 'ja')).toMatch(/^承諾済みの金額を超えています.*電話/);
    expect(describeError(new BackendError('server', 'no such', 'not_found'), 'ja')).toBe('対象が見つかりません (no such)');
    expect(describeError(new Error('boom'), 'ja')).toBe('boom');
  });
  it('says who started the running recovery and when (busy)', () => {
    const r = { action: 'reboot', requested_by: 'suzuki', automatic: false, started_at: '2026-11-30T01:02:03Z' };
    expect(busyText(r, '', 'ja')).toBe('復旧作業が実行中です: サーバー再起動 — suzuki が 10:02:03 に開始');
    expect(busyText({ ...r, automatic: true }, '', 'ja')).toContain('自動 が 10:02:03 に開始');
    const err = new BackendError('server', 'busy', 'busy', { code: 'busy', recovery: r });
    expect(describeError(err, 'ja')).toContain('suzuki');
    expect(busyText(null, 'running since 10:00', 'ja')).toContain('running since 10:00');
  });
});

describe('spot recoveries and consent', () => {
  // Whether it is business hours now is the engine's word (Health.business_hours, holidays
  // included): the console only combines it with the customer's entitlement.
  it('bills a plan 30 reboot always, a plan 60 reboot outside hours, never a restart', () => {
    expect(spotExpected('reboot', '30', true)).toBe(true);
    expect(spotExpected('reboot', '60', true)).toBe(false);
    expect(spotExpected('reboot', '60', false)).toBe(true);
    expect(spotExpected('reboot', '150', false)).toBe(false);
    expect(spotExpected('restart', '30', false)).toBe(false);
    expect(spotExpected('restart', '60', false)).toBe(false);
    // The customer's entitlement wins over the plan's column.
    expect(spotExpected('reboot', '150', true, 'spot')).toBe(true);
  });
  it('confirms every reboot and every billed action, not a plain restart', () => {
    expect(needsConfirm('reboot', false)).toBe(true);
    expect(needsConfirm('restart', true)).toBe(true);
    expect(needsConfirm('restart', false)).toBe(false);
  });
  it('offers no button for a recovery the plan never includes', () => {
    expect(planPolicy('restart', '30')).toBe('none');
    expect(recoveryOffered('restart', '30')).toBe(false);
    expect(recoveryOffered('reboot', '30')).toBe(true);
    expect(recoveryOffered('reboot', 'zero')).toBe(false);
    expect(recoveryOffered('reboot', '')).toBe(true); // unknown: let the engine say
    expect(recoveryOffered('reboot', '150', 'none')).toBe(false);
  });
  it('needs a person and at least the catalogue\'s spot minimum', () => {
    expect(consentProblem('', 30000)).toBe('person');
    expect(consentProblem('山田様', 19999)).toBe('amount');
    expect(consentProblem('山田様', '20,000円')).toBe('');
    expect(consentProblem('山田様', 'abc')).toBe('amount');
    expect(consentProblem('山田様', 20000.5)).toBe('amount');
    expect(spotConsent(' 山田様 ', '25000')).toEqual({ customer_person: '山田様', amount_yen: 25000 });
    expect(spotConsent('山田様', 100)).toBeNull();
    expect(spotMinYen()).toBe(20000); // the engine's catalogue (generated/catalogue.json)
    expect(yen(50000)).toBe('50,000 円');
  });
});

describe('phone escalation', () => {
  const phones = ['03-1111-1111', '090-2222-2222', '080-3333-3333'];
  const call = (number: string, minute: number, outcome: string) => ({ number, outcome, started_at: `2026-11-30T01:${String(minute).padStart(2, '0')}:00Z` });

  it('calls the first number first', () => {
    expect(escalationState(phones, [])).toMatchObject({ next: 0, answered: false, exhausted: false, failed: [], round: 1 });
  });
  it('goes down the list as numbers fail (voicemail and busy are no answer)', () => {
    const s = escalationState(phones, [call('03-1111-1111', 1, 'voicemail'), call('0902222-2222', 2, 'busy')]);
    expect(s).toMatchObject({ next: 2, exhausted: false, failed: [0, 1] });
  });
  it('is exhausted when every number failed in the round', () => {
    const s = escalationState(phones, [call(phones[2], 3, 'no_answer'), call(phones[0], 1, 'no_answer'), call(phones[1], 2, 'voicemail')]);
    expect(s).toMatchObject({ exhausted: true, answered: false, round: 1 });
  });
  it('ends the round with an answer', () => {
    const s = escalationState(phones, [call(phones[0], 1, 'no_answer'), call(phones[1], 2, 'answered')]);
    expect(s).toMatchObject({ answered: true, exhausted: false });
  });
  it('starts a new round after an exhausted one', () => {
    const calls = [call(phones[0], 1, 'no_answer'), call(phones[1], 2, 'no_answer'), call(phones[2], 3, 'no_answer'), call(phones[0], 9, 'no_answer')];
    expect(escalationState(phones, calls)).toMatchObject({ round: 2, exhausted: false, next: 1, failed: [0] });
  });
  it('has no next number without numbers, and ignores numbers not on the list', () => {
    expect(escalationState([], [])).toMatchObject({ next: null, exhausted: false });
    expect(escalationState(phones, [call('0120-000-000', 1, 'no_answer')])).toMatchObject({ next: 0, failed: [] });
  });
  it('names outcomes and dials with tel:', () => {
    expect(outcomeName('voicemail', 'ja')).toBe('留守電（応答なし）');
    expect(outcomeName('answered', 'ja')).toBe('応答あり');
    expect(telHref('03-1234-5678 (代表)')).toBe('tel:0312345678');
  });
  it('adds up consents and warns beyond what the engine records without a new call', () => {
    const consents = [{ kind: 'investigation', amount_yen: 30000 }, { kind: 'spot_recovery', amount_yen: 20000 }];
    expect(consentState(consents)).toEqual({ total: 50000, investigation: 30000, any: true });
    // The limit is the engine's (contract §9.8): the console only compares with it.
    expect(needsCall(60000, { consent_without_call_yen: 50000 })).toBe(true);
    expect(needsCall(50000, { consent_without_call_yen: 50000 })).toBe(false);
    expect(needsCall(90000, { consent_without_call_yen: 80000 })).toBe(true);
    expect(needsCall(900000, { consent_without_call_yen: null })).toBe(false);
  });
  it('names the causes of charges from the catalogue, Japanese first', () => {
    expect(chargeCauses('ja').map((c) => c.name)).toEqual(['お客様による設定変更', '急激なアクセス増加', 'サイバー攻撃', 'その他']);
    expect(chargeCauses('en').map((c) => c.id)).toEqual(['customer_change', 'traffic_surge', 'attack', 'other']);
    expect(causeName('attack', 'ja')).toBe('サイバー攻撃');
    expect(causeName('weather', 'ja')).toBe('weather');
  });
  it('reads datetime-local values as Japan time', () => {
    expect(jstLocal(Date.parse('2026-11-30T01:02:00Z'))).toBe('2026-11-30T10:02');
    expect(fromJstLocal('2026-11-30T10:02')).toBe(Date.parse('2026-11-30T01:02:00Z'));
    expect(fromJstLocal('2026-02-30T10:02')).toBeNaN();
    expect(fromJstLocal('')).toBeNaN();
  });
});

describe('maintenance', () => {
  const now = Date.parse('2026-11-30T01:00:00Z'); // 10:00 JST
  it('badges a paused tile with the end in JST', () => {
    expect(badgeText({ until: '2026-11-30T03:30:00Z' }, 'ja', now)).toBe('⚒ メンテナンス中 〜12:30');
    expect(badgeText({ until: '2026-12-01T03:30:00Z' }, 'ja', now)).toBe('⚒ メンテナンス中 〜12/1 12:30');
    expect(badgeText({ until: null }, 'ja', now)).toBe('⚒ メンテナンス中');
    expect(badgeText({ until: '2026-11-30T03:30:00Z' }, 'en', now)).toBe('⚒ Maintenance until 12:30');
    expect(shortJst('nope', now)).toBe('--:--');
  });
  const w = (id: number, starts: string, ends: string, active = false): MaintenanceWindow => ({
    id, scope: { kind: 'server', id: 'web01' }, starts_at: starts, ends_at: ends, reason: 'r', who: 'y', created_at: starts, active,
    ended_at: null, ended_by: null,
  });
  it('writes windows and their state', () => {
    expect(windowText(w(1, '2026-11-30T01:00:00Z', '2026-11-30T03:00:00Z'))).toBe('11/30 10:00 〜 12:00');
    expect(windowText(w(1, '2026-11-30T14:00:00Z', '2026-11-30T16:00:00Z'))).toBe('11/30 23:00 〜 12/1 01:00');
    expect(windowState(w(1, '2026-11-30T00:00:00Z', '2026-11-30T02:00:00Z'), now)).toBe('active');
    expect(windowState(w(1, '2026-11-30T02:00:00Z', '2026-11-30T03:00:00Z'), now)).toBe('future');
    expect(windowState(w(1, '2026-11-29T02:00:00Z', '2026-11-29T03:00:00Z'), now)).toBe('ended');
  });
  it('lists running windows first, then scheduled, then ended (newest first)', () => {
    const list = [
      w(1, '2026-11-29T02:00:00Z', '2026-11-29T03:00:00Z'),
      w(2, '2026-12-01T02:00:00Z', '2026-12-01T03:00:00Z'),
      w(3, '2026-11-30T00:00:00Z', '2026-11-30T05:00:00Z', true),
      w(4, '2026-11-28T02:00:00Z', '2026-11-28T03:00:00Z'),
      w(5, '2026-11-30T00:30:00Z', '2026-11-30T02:00:00Z', true),
    ];
    expect(sortWindows(list, now).map((x) => x.id)).toEqual([5, 3, 2, 1, 4]);
  });
  it('turns the pause form into an action, or says what is wrong', () => {
    const scope = { kind: 'server' as const, id: 'web01' };
    const f = emptyPauseForm(now);
    expect(pauseAction(scope, f, now)).toEqual({ problem: 'reason' });
    expect(pauseAction(scope, { ...f, reason: ' OS 更新 ' }, now)).toEqual({ action: { type: 'pause', scope, minutes: 60, reason: 'OS 更新' } });
    expect(pauseAction(scope, { ...f, reason: 'x', minutes: 0, custom: 45 }, now)).toMatchObject({ action: { minutes: 45 } });
    expect(pauseAction(scope, { ...f, reason: 'x', minutes: 0, custom: '' }, now)).toEqual({ problem: 'minutes' });
    expect(pauseAction(scope, { ...f, reason: 'x', minutes: 0, custom: null }, now)).toEqual({ problem: 'minutes' });
    const win = { ...f, reason: 'x', mode: 'window' as const, start: '2026-11-30T22:00', end: '2026-12-01T02:00' };
    expect(pauseAction(scope, win, now)).toEqual({
      action: { type: 'pause', scope, starts_at: '2026-11-30T13:00:00.000Z', ends_at: '2026-11-30T17:00:00.000Z', reason: 'x' },
    });
    expect(pauseAction(scope, { ...win, end: win.start }, now)).toEqual({ problem: 'order' });
    expect(pauseAction(scope, { ...win, start: '2026-11-29T08:00', end: '2026-11-29T09:00' }, now)).toEqual({ problem: 'past' });
    expect(pauseAction(scope, { ...win, start: '' }, now)).toEqual({ problem: 'start' });
  });
  it('names the scope', () => {
    expect(scopeText({ kind: 'customer', id: 'c1001' }, 'ja', 'サンプル株式会社')).toBe('顧客 サンプル株式会社 (c1001) の全サーバー');
    expect(scopeText({ kind: 'server', id: 'web01' }, 'ja')).toBe('サーバー web01');
  });
});

describe('audit log view', () => {
  const e = (id: number, kind: string, detail = ''): AuditEntry => ({
    id, at: '2026-11-30T01:00:00Z', kind, actor: 'yamada', incident_id: 7, host: 'web01', check: 'http', detail, hash: 'abcdef0123456789',
  });
  it('puts the verification in words', () => {
    expect(verifyText({ ok: true, entries: 123, error: null }, 'ja')).toBe('✔ 改ざんなし 123件');
    expect(verifyText({ ok: false, entries: 5, error: 'entry 3: hash mismatch' }, 'ja')).toBe('✖ 改ざんの可能性: entry 3: hash mismatch');
  });
  it('shortens hashes, pages by id, filters by words', () => {
    expect(shortHash('abcdef0123456789')).toBe('abcdef0123');
    const page = [e(5, 'note'), e(9, 'recovery_started'), e(7, 'call_logged', '03-1111')];
    expect(newestFirst(page).map((x) => x.id)).toEqual([9, 7, 5]);
    expect(nextBefore(page, 3)).toBe(5);
    expect(nextBefore(page, 200)).toBeNull();
    expect(filterAudit(page, '復旧作業開始', 'ja').map((x) => x.id)).toEqual([9]);
    expect(filterAudit(page, '03-1111', 'ja').map((x) => x.id)).toEqual([7]);
    // an entry of another incident is left out
    expect(filterAudit([...page, { ...e(11, 'note'), incident_id: 8 }], '#7', 'ja')).toHaveLength(3);
  });
  it('labels the new kinds and draws them as actions, calls, mail, recoveries', () => {
    const labels: Record<string, string> = {
      recovery_started: '復旧作業開始', recovery_finished: '復旧作業終了', spot_billed: 'スポット復旧（有償）', call_logged: '電話連絡',
      consent_recorded: '費用の同意', status_report_queued: '状況報告メール', note: 'メモ', alert_released: '保留通知の送信',
    };
    for (const [k, v] of Object.entries(labels)) expect(kindLabel(k, 'ja')).toBe(v);
    for (const k of ['maintenance_ended', 'maintenance_extended', 'alert_held', 'recovery_needs_operator', 'recovery_interrupted',
      'fleet_reloaded', 'backup_finished', 'config_work_recorded']) {
      expect(kindLabel(k, 'ja')).not.toBe(k);
      expect(kindLabel(k, 'en')).not.toBe(k);
    }
    expect(stepGroup('spot_billed')).toBe('action');
    expect(stepGroup('consent_recorded')).toBe('action');
    expect(stepGroup('maintenance_extended')).toBe('action');
    expect(stepGroup('recovery_needs_operator')).toBe('recovery');
    expect(stepGroup('call_logged')).toBe('call');
    expect(stepGroup('alert_held')).toBe('mail');
    // An engine that only echoes the kind as the label: ours shows.
    expect(stepLabel({ at: '', kind: 'spot_billed', label: 'spot_billed', detail: '', actor: null }, 'ja')).toBe('スポット復旧（有償）');
    expect(stepLabel({ at: '', kind: 'spot_billed', label: '', detail: '', actor: null }, 'ja')).toBe('スポット復旧（有償）');
    expect(stepLabel({ at: '', kind: 'spot_billed', label: '課金', detail: '', actor: null }, 'ja')).toBe('課金');
  });
});


describe('unavailableText', () => {
  it('names the action and the reason, in both languages', () => {
    expect(unavailableText('restart:http', 'no_access', 'ja')).toBe('サービス再起動不可: SSH ログイン不可');
    expect(unavailableText('reboot', 'no_action', 'ja')).toBe('サーバー再起動不可: 再起動手段が未設定');
    expect(unavailableText('reboot', 'no_action', 'en')).toBe('server reboot unavailable: no reboot action set');
    expect(unavailableText('phone', 'not_included', 'ja')).toBe('電話連絡不可: 契約外');
  });
});
