import { describe, expect, it } from 'vitest';
import { blockedBy, recoveryOffer, tileOffer, type OfferInput, type OfferServer, type RecoveryOffer } from '../src/lib/model/offer';
import type { ActionsView, AvailabilityCode, Prompt, RecoveryPolicy } from '../src/lib/backend/types';

// The offer of a recovery, place by place, as the console draws it today (tile, incident panel,
// server detail). A row that changes here is a change users see.

const server = (plan: string, more: Partial<OfferServer> = {}): OfferServer => ({ label: 'web01', role: 'server', plan, recovery: null, ...more });
const RUNNING = { id: 3, action: 'reboot' };
const gateway = server('', { label: 'gw1', role: 'gateway' });
const prompt = (code: string, action: string): Prompt => ({ code, action, message: `engine says ${code}`, at: null });
const ent = (server_recovery: RecoveryPolicy, service_recovery: RecoveryPolicy) => ({ server_recovery, service_recovery });
const incident = (check: string, p: Prompt | null = null) => ({ kind: 'incident' as const, id: 7, check, prompt: p });

type Expect = 'none' | 'running' | 'reason' | 'unavailable' | { what: string; policy?: RecoveryPolicy; running?: boolean };

function summary(o: RecoveryOffer): Expect {
  if (o.kind !== 'button') return o.kind;
  const out: { what: string; policy?: RecoveryPolicy; running?: boolean } = { what: o.what };
  if (o.policy !== undefined) out.policy = o.policy;
  if (o.running) out.running = true;
  return out;
}

const op = (place: OfferInput['place'], s: OfferServer | undefined, target: OfferInput['target'], more: Partial<OfferInput> = {}): OfferInput => ({
  place,
  canAct: true,
  server: s,
  target,
  ...more,
});

describe('recoveryOffer: the incident panel', () => {
  const rows: [string, OfferInput, Expect][] = [
    ['a service incident on plan 60: restart', op('panel', server('60'), incident('http')), { what: 'restart:http' }],
    ['a ping incident on plan 60: reboot', op('panel', server('60'), incident('ping')), { what: 'reboot' }],
    ['ssh is answered by a reboot', op('panel', server('150'), incident('ssh')), { what: 'reboot' }],
    ["the prompt's action wins over the check's", op('panel', server('150'), incident('http', prompt('outside_hours', 'reboot'))), { what: 'reboot' }],
    ['a viewer: no button', op('panel', server('60'), incident('http'), { canAct: false }), 'none'],
    ["a viewer: the engine's reason", op('panel', server('60'), incident('http', prompt('spot_only', 'restart:http')), { canAct: false }), 'reason'],
    ['the server is unknown: only the reason', op('panel', undefined, incident('ping', prompt('waiting', 'reboot'))), 'reason'],
    ['the server is unknown, no prompt: nothing', op('panel', undefined, incident('ping')), 'none'],
    ['a recovery runs: it is shown instead', op('panel', server('60', { recovery: RUNNING }), incident('http', prompt('waiting', 'reboot'))), 'running'],
    ['not_included: no button', op('panel', server('150'), incident('http', prompt('not_included', 'restart:http'))), 'reason'],
    ['plan 30 never restarts a service', op('panel', server('30'), incident('http')), 'none'],
    ['plan 30 reboots as spot', op('panel', server('30'), incident('ping', prompt('spot_only', 'reboot'))), { what: 'reboot' }],
    ['plan zero: nothing', op('panel', server('zero'), incident('ping', prompt('not_included', 'reboot'))), 'reason'],
    [
      "the customer's entitlement wins over the plan (none)",
      op('panel', server('150'), incident('http'), { entitlements: ent('always', 'none') }),
      'none',
    ],
    [
      "the customer's entitlement wins over the plan (always)",
      op('panel', server('zero'), incident('ping'), { entitlements: ent('always', 'none') }),
      { what: 'reboot', policy: 'always' },
    ],
    ['the service policy for a restart', op('panel', server('60'), incident('imap'), { entitlements: ent('none', 'business_hours') }), { what: 'restart:imap', policy: 'business_hours' }],
    ['a gateway is offered (today: only the detail leaves it out)', op('panel', gateway, incident('ping')), { what: 'reboot' }],
    ['no_access still offers (today: the engine refuses)', op('panel', server('150'), incident('ping', prompt('no_access', 'reboot'))), { what: 'reboot' }],
    ['a resource incident has no recovery', op('panel', server('150'), incident('disk')), 'none'],
    ["the phone escalation's prompt: the check's recovery is still offered", op('panel', server('150'), incident('http', prompt('escalate', 'phone'))), { what: 'restart:http' }],
    ["the phone escalation's prompt on a tile: the check's recovery", op('tile', server('150'), incident('ping', prompt('escalate', 'phone'))), { what: 'reboot' }],
    ['a resource incident with a prompt: its reason', op('panel', server('150'), incident('load', prompt('waiting', ''))), 'reason'],
    ['an unknown plan is offered (the engine decides)', op('panel', server(''), incident('http')), { what: 'restart:http' }],
  ];
  it.each(rows)('%s', (_, input, want) => expect(summary(recoveryOffer(input))).toEqual(want));

  it('a button carries what RecoverButton needs and the prompt shown beside it', () => {
    const p = prompt('outside_hours', 'reboot');
    expect(recoveryOffer(op('panel', server('60'), incident('ping', p), { entitlements: ent('business_hours', 'business_hours') }))).toEqual({
      kind: 'button',
      action: { type: 'recover', incident: 7 },
      what: 'reboot',
      host: 'web01',
      plan: '60',
      policy: 'business_hours',
      running: false,
      prompt: p,
      root: false,
    });
    // contract §9.2: a customer holding root gets the warning in the confirmation.
    const rooted = recoveryOffer(op('panel', server('200'), incident('ping', p), { root: true }));
    expect(rooted).toMatchObject({ kind: 'button', root: true });
  });

  it('a reason carries the prompt', () => {
    const p = prompt('not_included', 'restart:http');
    expect(recoveryOffer(op('panel', server('30'), incident('http', p)))).toEqual({ kind: 'reason', prompt: p });
  });
});

describe('recoveryOffer: the server detail', () => {
  const rows: [string, OfferInput, Expect][] = [
    ['an incident on plan 60', op('detail', server('60'), incident('https')), { what: 'restart:https' }],
    ['a recovery runs: the button waits', op('detail', server('60', { recovery: RUNNING }), incident('ping')), { what: 'reboot', running: true }],
    [
      'not_included: the plan decides (today)',
      op('detail', server('150'), incident('http', prompt('not_included', 'restart:http'))),
      { what: 'restart:http' },
    ],
    ['a gateway: no button', op('detail', gateway, incident('ping')), 'none'],
    ['a gateway: its reason', op('detail', gateway, incident('ping', prompt('waiting', 'reboot'))), 'reason'],
    ['a viewer', op('detail', server('60'), incident('ping'), { canAct: false }), 'none'],
    ['reboot the server', op('detail', server('60'), { kind: 'reboot' }), { what: 'reboot' }],
    ['reboot a plan-30 server (spot)', op('detail', server('30'), { kind: 'reboot' }), { what: 'reboot' }],
    ['reboot on plan zero: no', op('detail', server('zero'), { kind: 'reboot' }), 'none'],
    ['reboot a gateway: no', op('detail', gateway, { kind: 'reboot' }), 'none'],
    ['reboot while one runs: waits', op('detail', server('150', { recovery: RUNNING }), { kind: 'reboot' }), { what: 'reboot', running: true }],
    ['restart a service', op('detail', server('60'), { kind: 'restart', check: 'mysql' }), { what: 'restart:mysql' }],
    ['restart what cannot be restarted', op('detail', server('150'), { kind: 'restart', check: 'ssh' }), 'none'],
    ['restart a custom port', op('detail', server('150'), { kind: 'restart', check: 'custom:8080' }), 'none'],
    ['restart on plan 30: no', op('detail', server('30'), { kind: 'restart', check: 'http' }), 'none'],
    [
      'restart on plan 30 when the customer has it',
      op('detail', server('30'), { kind: 'restart', check: 'http' }, { entitlements: ent('spot', 'always') }),
      { what: 'restart:http', policy: 'always' },
    ],
  ];
  it.each(rows)('%s', (_, input, want) => expect(summary(recoveryOffer(input))).toEqual(want));

  it('the actions: recover an incident, reboot the server, restart its service', () => {
    const s = server('150');
    const action = (o: RecoveryOffer) => (o.kind === 'button' ? o.action : null);
    expect(action(recoveryOffer(op('detail', s, incident('http'))))).toEqual({ type: 'recover', incident: 7 });
    expect(action(recoveryOffer(op('detail', s, { kind: 'reboot' })))).toEqual({ type: 'reboot', host: 'web01' });
    expect(action(recoveryOffer(op('detail', s, { kind: 'restart', check: 'smtp' })))).toEqual({ type: 'restart', host: 'web01', service: 'smtp' });
  });
});

describe('recoveryOffer: the tile', () => {
  const rows: [string, OfferInput, Expect][] = [
    ['only an incident left to people (with a prompt)', op('tile', server('150'), incident('http')), 'none'],
    ['a prompt: the button and the reason', op('tile', server('60'), incident('ping', prompt('outside_hours', 'reboot'))), { what: 'reboot' }],
    ['not_included: the reason only', op('tile', server('150'), incident('ping', prompt('not_included', 'reboot'))), 'reason'],
    ['a viewer: the reason only', op('tile', server('60'), incident('ping', prompt('already_tried', 'reboot')), { canAct: false }), 'reason'],
    ['a recovery runs', op('tile', server('60', { recovery: RUNNING }), incident('ping', prompt('waiting', 'reboot'))), 'running'],
    ['plan 30, a service: the reason only', op('tile', server('30'), incident('http', prompt('restart_limit', 'restart:http'))), 'reason'],
  ];
  it.each(rows)('%s', (_, input, want) => expect(summary(recoveryOffer(input))).toEqual(want));
});

describe('tileOffer', () => {
  const check = (c: string, incident: number | null, p: Prompt | null) => ({ check: c, incident, prompt: p });
  const tile = (plan: string, checks: ReturnType<typeof check>[], more: Partial<OfferServer & { worst_level: number | null }> = {}) => ({
    ...server(plan),
    worst_level: 4,
    checks,
    ...more,
  });

  it('offers for the first incident with a prompt and a recovery', () => {
    const o = tileOffer(
      tile('150', [check('ping', null, null), check('disk', 4, prompt('waiting', '')), check('http', 5, null), check('imap', 6, prompt('already_tried', 'restart:imap')), check('smtp', 8, prompt('already_tried', 'restart:smtp'))]),
      true,
    );
    expect(o).toMatchObject({ kind: 'button', what: 'restart:imap', action: { type: 'recover', incident: 6 }, host: 'web01', policy: undefined, running: false });
  });

  it('a running recovery, with or without a prompt', () => {
    expect(tileOffer(tile('60', [], { recovery: RUNNING }), true)).toEqual({ kind: 'running' });
    expect(tileOffer(tile('60', [check('ping', 1, prompt('waiting', 'reboot'))], { recovery: RUNNING }), true)).toEqual({ kind: 'running' });
  });

  it('nothing on a server without a problem, or without a prompt', () => {
    expect(tileOffer(tile('60', [check('ping', 1, prompt('waiting', 'reboot'))], { worst_level: null }), true)).toEqual({ kind: 'none' });
    expect(tileOffer(tile('60', [check('ping', 1, null)]), true)).toEqual({ kind: 'none' });
    expect(tileOffer(tile('60', [check('load', 1, prompt('waiting', ''))]), true)).toEqual({ kind: 'none' });
  });

  it('a viewer and not_included get the reason', () => {
    const p = prompt('not_included', 'reboot');
    expect(tileOffer(tile('150', [check('ping', 1, p)]), true)).toEqual({ kind: 'reason', prompt: p });
    const q = prompt('outside_hours', 'reboot');
    expect(tileOffer(tile('60', [check('ping', 1, q)]), false)).toEqual({ kind: 'reason', prompt: q });
  });
});

describe('the engine says what can work (actions)', () => {
  const acts = (restart: AvailabilityCode, reboot: AvailabilityCode, phone: AvailabilityCode = 'ok'): ActionsView => ({
    restart: { code: restart }, reboot: { code: reboot }, phone: { code: phone }, pause: { code: 'ok' },
  });
  const noSsh = server('150', { actions: acts('no_access', 'ok') });
  const p = prompt('no_access', 'restart:http');

  it('no SSH access: the reason instead of a restart, everywhere', () => {
    for (const place of ['tile', 'panel', 'detail'] as const) {
      expect(recoveryOffer(op(place, noSsh, incident('http', p)))).toEqual({ kind: 'unavailable', what: 'restart:http', code: 'no_access', prompt: p });
    }
    expect(recoveryOffer(op('detail', noSsh, { kind: 'restart', check: 'http' }))).toMatchObject({ kind: 'unavailable', code: 'no_access' });
    // the reboot is a different means: still offered
    expect(summary(recoveryOffer(op('detail', noSsh, { kind: 'reboot' })))).toEqual({ what: 'reboot' });
  });

  it('no reboot action, or not in the plan at this hour: the reason', () => {
    const s = server('60', { actions: acts('not_included', 'no_action') });
    expect(recoveryOffer(op('detail', s, { kind: 'reboot' }))).toMatchObject({ kind: 'unavailable', what: 'reboot', code: 'no_action' });
    expect(recoveryOffer(op('panel', s, incident('imap')))).toMatchObject({ kind: 'unavailable', what: 'restart:imap', code: 'not_included' });
  });

  it('needs_consent and busy keep the button; both means: both buttons', () => {
    const consent = server('60', { actions: acts('needs_consent', 'needs_consent') });
    expect(summary(recoveryOffer(op('detail', consent, { kind: 'reboot' })))).toEqual({ what: 'reboot' });
    expect(summary(recoveryOffer(op('detail', consent, { kind: 'restart', check: 'http' })))).toEqual({ what: 'restart:http' });
    const busy = server('200', { actions: acts('busy', 'busy'), recovery: RUNNING });
    expect(summary(recoveryOffer(op('detail', busy, { kind: 'reboot' })))).toEqual({ what: 'reboot', running: true });
    const both = server('200', { actions: acts('ok', 'ok') });
    expect(summary(recoveryOffer(op('detail', both, { kind: 'reboot' })))).toEqual({ what: 'reboot' });
    expect(summary(recoveryOffer(op('detail', both, { kind: 'restart', check: 'http' })))).toEqual({ what: 'restart:http' });
  });

  it('blockedBy: the phone escalation of a plan without it', () => {
    expect(blockedBy(server('30', { actions: acts('ok', 'ok', 'not_included') }), 'phone')).toBe('not_included');
    expect(blockedBy(server('200', { actions: acts('ok', 'ok') }), 'phone')).toBeNull();
    expect(blockedBy(server('200', { actions: acts('ok', 'ok', 'needs_consent') }), 'phone')).toBeNull();
    expect(blockedBy(server('200'), 'phone')).toBeNull();
  });
});
