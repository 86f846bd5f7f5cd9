//! Whether and how the console offers a recovery (a server reboot, a service restart) to an
//! operator: the one policy behind the tile, the incident panel and the server detail. It says
//! what to draw — a recovery button (with the props of RecoverButton), the running recovery, the
//! engine's reason it did not act (the prompt), or nothing — and never draws, sends or knows the
//! transport. Pure and unit-tested (tests/offer.test.ts).
//!
//! The places differ today, on purpose kept as they were (a later change settles them; the
//! table test names each): the tile and the panel show a running recovery instead, the detail a
//! waiting button; the tile and the panel hold the button back on `not_included`, the detail
//! asks the plan; only the detail leaves gateways out; the tile offers only for an incident the
//! engine left to people (with a prompt), the first of its server. The engine refuses what it
//! must anyway (`not_included`, `no_action`, `busy`): the offer only avoids asking in vain.
//! Where the engine says an action cannot work now (the server view's `actions`: `no_access`,
//! `no_action`, `not_included`), the offer is `unavailable` with that reason instead of a
//! button; `needs_consent` and `busy` keep the button (it asks for the consent, or says who).

import type { Action, ActionsView, AvailabilityCode, Prompt, RecoveryPolicy } from '../backend/types';
import { kindOf, recoveryFor, recoveryOffered } from './actions';
import { restartable } from './catalogue';

export type RecoveryAction = Extract<Action, { type: 'recover' | 'reboot' | 'restart' }>;

/** Where the offer is drawn. */
export type OfferPlace = 'tile' | 'panel' | 'detail';

/** What a recovery is offered for. */
export type OfferTarget =
  /** An open incident: recovered as the engine sees fit (`recover`). */
  | { kind: 'incident'; id: number; check: string; prompt: Prompt | null }
  /** The whole server (the detail's server actions). */
  | { kind: 'reboot' }
  /** One service of the server (the detail's checks table). */
  | { kind: 'restart'; check: string };

/** What the policy reads of a server (a `ServerView` is one). */
export interface OfferServer {
  label: string;
  role: string;
  plan: string;
  /** The running recovery of this server (null: none). */
  recovery: object | null;
  /** What the engine says each action can do now (absent: an engine that does not say). */
  actions?: ActionsView;
}

/** The reasons an action cannot work now: no button, the reason where it would be. */
const BLOCKED: ReadonlySet<AvailabilityCode> = new Set(['no_access', 'no_action', 'not_included']);

/** The engine's reason an action cannot work now, or null when it can (or may, with consent). */
export function blockedBy(s: Pick<OfferServer, 'actions'> | undefined, action: keyof ActionsView): AvailabilityCode | null {
  const code = s?.actions?.[action]?.code;
  return code && BLOCKED.has(code) ? code : null;
}

export interface OfferInput {
  place: OfferPlace;
  /** An operator (never a viewer, the wall or the review). */
  canAct: boolean;
  /** undefined: the live fleet does not know the incident's server. */
  server: OfferServer | undefined;
  /** The customer's entitlements when known; without them the plan decides. */
  entitlements?: { server_recovery: RecoveryPolicy; service_recovery: RecoveryPolicy };
  /** The customer holds root (contract §9.2): the confirmation warns. */
  root?: boolean;
  target: OfferTarget;
}

export type RecoveryOffer =
  /** A recovery of the server is running: show it instead. */
  | { kind: 'running' }
  /** A recovery button; `prompt`: the engine's reason it did not act, shown beside. */
  | {
      kind: 'button';
      action: RecoveryAction;
      /** `reboot` or `restart:SERVICE`. */
      what: string;
      host: string;
      plan: string;
      policy: RecoveryPolicy | undefined;
      /** A recovery of the server is running: the button waits. */
      running: boolean;
      prompt: Prompt | null;
      /** The customer holds root: the confirmation warns that root changes may prevent recovery. */
      root: boolean;
    }
  /** No button; the engine's reason it did not act. */
  | { kind: 'reason'; prompt: Prompt }
  /** The recovery cannot work now (`code`: the engine's reason); the incident's prompt beside. */
  | { kind: 'unavailable'; what: string; code: AvailabilityCode; prompt: Prompt | null }
  | { kind: 'none' };

const NONE: RecoveryOffer = { kind: 'none' };

/** The recovery a target calls for (`reboot`, `restart:SERVICE`), null for none. */
function whatOf(target: OfferTarget): string | null {
  switch (target.kind) {
    case 'incident':
      // A prompt names the recovery it is about; the phone escalation's (`phone`) is none.
      return (target.prompt?.action !== 'phone' && target.prompt?.action) || recoveryFor(target.check);
    case 'reboot':
      return 'reboot';
    case 'restart':
      return restartable(target.check) ? `restart:${target.check}` : null;
  }
}

/** The one policy: see the module header. */
export function recoveryOffer(input: OfferInput): RecoveryOffer {
  const { place, canAct, server: s, entitlements, target } = input;
  const prompt = target.kind === 'incident' ? target.prompt : null;
  const reason: RecoveryOffer = prompt ? { kind: 'reason', prompt } : NONE;
  if (place !== 'detail' && s?.recovery) return { kind: 'running' };
  if (place === 'tile' && !prompt) return NONE;

  const what = whatOf(target);
  if (!canAct || !s || !what) return reason;
  if (place === 'detail' && s.role === 'gateway') return reason;
  if (place !== 'detail' && prompt?.code === 'not_included') return reason;
  const policy = entitlements?.[what === 'reboot' ? 'server_recovery' : 'service_recovery'];
  if (!recoveryOffered(kindOf(what), s.plan, policy)) return reason;
  const blocked = blockedBy(s, what === 'reboot' ? 'reboot' : 'restart');
  if (blocked) return { kind: 'unavailable', what, code: blocked, prompt };

  const action: RecoveryAction =
    target.kind === 'incident'
      ? { type: 'recover', incident: target.id }
      : target.kind === 'reboot'
        ? { type: 'reboot', host: s.label }
        : { type: 'restart', host: s.label, service: target.check };
  return { kind: 'button', action, what, host: s.label, plan: s.plan, policy, running: !!s.recovery, prompt, root: !!input.root };
}

/** What a tile's server check needs for the tile's offer. */
interface TileCheck {
  check: string;
  incident: number | null;
  prompt: Prompt | null;
}

/** A tile's offer: for the first open incident of its server the engine left to people (with a
 * prompt and a recovery to offer), or the running recovery. */
export function tileOffer(
  s: OfferServer & { worst_level: number | null; checks: readonly TileCheck[] },
  canAct: boolean,
): RecoveryOffer {
  if (s.recovery) return { kind: 'running' };
  const c = s.worst_level === null ? undefined : s.checks.find((c) => c.incident !== null && c.prompt !== null && recoveryFor(c.check) !== null);
  if (!c || c.incident === null) return NONE;
  return recoveryOffer({ place: 'tile', canAct, server: s, target: { kind: 'incident', id: c.incident, check: c.check, prompt: c.prompt } });
}
