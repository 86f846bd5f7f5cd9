//! The console's live state, fed by backend messages: the fleet (immutable, replaced per
//! message), engine health, the connection, recent events, and the incident list (re-read when
//! incidents open, close or change level). Components read it; only `handle` writes it.

import type { Backend } from '../backend';
import type { ConsoleMessage, Customer, EngineEvent, Health, Incident, ServerView } from '../backend/types';
import { EMPTY, applyDelta, fromSnapshot, withTelemetry, type Fleet } from '../model/fleet';
import { openIncidents, type IncidentRow } from '../model/incidents';
import { RANK } from '../model/levels';

export interface ConnectionState {
  /** null: not connected yet (first attempt). */
  connected: boolean | null;
  since: number;
  message: string;
}

export interface LoggedEvent {
  key: number;
  event: EngineEvent;
  /** When this console received it (events without their own time show this). */
  received: number;
}

/** The time of an event: its own, else the call's, else when it arrived. */
export function eventTime(e: LoggedEvent): number | string {
  const ev = e.event;
  if ('at' in ev && ev.at) return ev.at;
  if (ev.event === 'call_logged' && ev.call.started_at) return ev.call.started_at;
  return e.received;
}

/** The incident an event is about, if any. */
export function eventIncident(ev: EngineEvent): number | null {
  switch (ev.event) {
    case 'note_added':
    case 'call_logged':
    case 'status_report_queued':
    case 'recovery_prompt':
      return ev.incident;
    case 'recovery_started':
    case 'recovery_finished':
      return ev.incident_id;
    case 'incident_opened':
    case 'incident_closed':
    case 'incident_level_changed':
    case 'incident_acknowledged':
    case 'alert_released':
      return ev.id;
    default:
      return null;
  }
}

const MAX_EVENTS = 50;

/** What holds now by the engine's clock, from its latest health line (the console computes no
 * hours itself): read by the recovery button to tell a billed reboot before asking. */
export const engineNow = $state({ businessHours: false });

export class ConsoleState {
  fleet = $state.raw<Fleet>(EMPTY);
  health = $state.raw<Health | null>(null);
  connection = $state.raw<ConnectionState>({ connected: null, since: Date.now(), message: '' });
  /** Receipt time of the last snapshot or delta. */
  lastMessageAt = $state(0);
  events = $state.raw<LoggedEvent[]>([]);
  knownIncidents = $state.raw<ReadonlyMap<number, Incident>>(new Map());
  customers = $state.raw<ReadonlyMap<string, Customer>>(new Map());
  /** Incident id the shell asked to open (a notification was clicked). */
  openRequest = $state.raw<{ id: number; n: number } | null>(null);
  /** A snapshot arrived since the last (re)connection. */
  gotSnapshot = $state(false);
  /** True until the first snapshot after a (re)connection: nothing shown is live. */
  stale = $derived(this.connection.connected !== true || !this.gotSnapshot);
  incidents = $derived<IncidentRow[]>(openIncidents(this.fleet.order, this.knownIncidents));

  private backend: Backend | null = null;
  private eventKey = 0;
  private refetchTimer: ReturnType<typeof setTimeout> | null = null;

  attach(backend: Backend): () => void {
    this.backend = backend;
    const stop = backend.subscribe((m) => this.handle(m));
    this.refetchCustomers();
    return stop;
  }

  /** Customers (contracts, contacts) read again: at attach and after the fleet changed. */
  private refetchCustomers() {
    this.backend?.customers().then(
      (list) => (this.customers = new Map(list.map((c) => [c.id, c]))),
      () => {},
    );
  }

  /** A server read on its own (the detail view asks every few seconds): see `withTelemetry`. */
  mergeTelemetry(fresh: ServerView) {
    this.fleet = withTelemetry(this.fleet, fresh);
  }

  handle(m: ConsoleMessage) {
    switch (m.type) {
      case 'snapshot':
        this.fleet = fromSnapshot(m.servers, m.rev);
        this.health = m.health;
        engineNow.businessHours = m.health.business_hours;
        this.lastMessageAt = Date.now();
        this.gotSnapshot = true;
        if (this.connection.connected === null) this.connection = { connected: true, since: Date.now(), message: '' };
        this.refetchIncidents(0);
        break;
      case 'delta':
        if (!this.gotSnapshot) return; // a delta means nothing without its snapshot
        this.fleet = applyDelta(this.fleet, m.servers, m.rev);
        this.health = m.health;
        engineNow.businessHours = m.health.business_hours;
        this.lastMessageAt = Date.now();
        break;
      case 'event': {
        const e = m.event;
        if (e.event === 'check_state') return; // the tiles show it through deltas
        if (e.event === 'recovery_prompt' && !e.prompt) return; // a prompt cleared: the views show it
        if (e.event === 'fleet_reloaded') this.refetchCustomers(); // contracts, contacts may differ
        this.events = [{ key: ++this.eventKey, event: e, received: Date.now() }, ...this.events].slice(0, MAX_EVENTS);
        // Any event of an incident (opened, closed, a call, a note, a status report …) changes
        // its log, which the detail lists: read the open incidents again.
        if (eventIncident(e) !== null) {
          this.refetchIncidents(500);
        }
        break;
      }
      case 'connection': {
        const since = Date.parse(m.since);
        const wasUp = this.connection.connected;
        if (wasUp === m.connected) return;
        this.connection = { connected: m.connected, since: Number.isNaN(since) ? Date.now() : since, message: m.message };
        // A new snapshot must come before anything is live again.
        if (!m.connected) this.gotSnapshot = false;
        break;
      }
      case 'open_incident':
        this.openRequest = { id: m.id, n: (this.openRequest?.n ?? 0) + 1 };
        break;
    }
  }

  /** Re-reads the open incidents (their trigger names), at most once per `delay`. */
  refetchIncidents(delay: number) {
    if (!this.backend || this.refetchTimer) return;
    this.refetchTimer = setTimeout(() => {
      this.refetchTimer = null;
      this.backend?.incidents(true, 500).then(
        (list) => (this.knownIncidents = new Map(list.map((i) => [i.id, i]))),
        () => {},
      );
    }, delay);
  }

  /** The host of an incident id, from the live views (a paused server's too) or the incident list. */
  hostOfIncident(id: number): string | null {
    for (const e of this.fleet.order) {
      if (e.rank < RANK.maintenance) break; // past the problems and the paused servers
      if (e.server.checks.some((c) => c.incident === id)) return e.server.label;
    }
    return this.knownIncidents.get(id)?.host ?? null;
  }

  get backendRef(): Backend | null {
    return this.backend;
  }
}
