//! The console contract: the shapes the engine sends (over Tauri IPC or HTTP/WebSocket) and the
//! one interface every transport implements. No transport code here.

export type Iso = string;
export type LevelNumber = 2 | 3 | 4 | 5;
export type Plan = 'zero' | '30' | '60' | '150' | '200' | '';

export interface CheckView {
  check: string; // ping, ssh, http, …, custom:NAME
  ok: boolean | null; // null: no result yet
  hard: boolean;
  failures: number;
  detail: string;
  ms: number | null;
  last_at: Iso | null;
  incident: number | null;
  level: LevelNumber | null;
  since: Iso | null;
  /** The operator who took the open incident (null: nobody yet). */
  acknowledged_by: string | null;
  suppressed: string | null; // "host_unreachable" | "gateway_down:LABEL" | other text
}

export type ResourceKind = 'load' | 'disk' | 'inode' | 'mailq';

export interface ResourceView {
  resource: ResourceKind | string;
  value: string;
  sample_level: number | null;
  level: number | null;
  at: Iso | null;
}

export interface Maintenance {
  until: Iso | null;
  reason: string;
  by: string;
}

export interface ServerView {
  label: string;
  role: 'server' | 'gateway';
  customer: string;
  customer_name: string;
  plan: Plan;
  ip: string;
  fqdn: string;
  os: string;
  worst_level: LevelNumber | null;
  problem_since: Iso | null;
  last_check_at: Iso | null;
  maintenance: Maintenance | null;
  /** Every open incident of this host has been taken by an operator (Lv.5 stops blinking). */
  acknowledged: boolean;
  checks: CheckView[];
  resources: ResourceView[];
  resource_error: string | null;
}

export interface Health {
  started_at: Iso;
  last_cycle_at: Iso | null;
  outbox_backlog: number;
  checks: number;
  /** Seconds between check cycles, when the engine says (default 60). */
  interval_secs?: number;
}

export type EngineEvent =
  | {
      event: 'incident_opened' | 'incident_closed' | 'incident_level_changed';
      id: number;
      host: string;
      check: string;
      level: LevelNumber;
      trigger: string;
      at: Iso;
    }
  | {
      event: 'check_state';
      host: string;
      check: string;
      state: 'soft' | 'hard' | 'ok';
      attempt: number;
      detail: string;
      at: Iso;
    }
  | {
      event: 'incident_acknowledged';
      id: number;
      host: string;
      check: string;
      by: string;
      note: string;
      at: Iso;
    }
  | { event: 'engine_started'; checks: number; resumed_open: number; at: Iso }
  | { event: 'engine_stopped'; at: Iso };

export interface Connection {
  connected: boolean;
  since: Iso;
  message: string;
}

export type ConsoleMessage =
  | { type: 'snapshot'; rev: number; servers: ServerView[]; health: Health }
  | { type: 'delta'; rev: number; servers: ServerView[]; health: Health }
  | { type: 'event'; event: EngineEvent }
  | { type: 'open_incident'; id: number }
  | ({ type: 'connection' } & Connection);

export interface IncidentEvent {
  id: number;
  at: Iso;
  kind: string;
  incident_id: number | null;
  host: string;
  check: string;
  detail: string;
}

export interface Incident {
  id: number;
  host: string;
  check: string;
  level: LevelNumber;
  trigger: string;
  opened_at: Iso;
  closed_at: Iso | null;
  events: IncidentEvent[];
}

export interface Sample {
  host: string;
  resource: string;
  at: Iso;
  value: number;
}

export type Recovery = 'none' | 'spot' | 'business_hours' | 'always';

export interface Customer {
  id: string;
  name: string;
  plan: Plan;
  entitlements: {
    service_monitoring: boolean;
    resource_monitoring: boolean;
    phone_call: boolean;
    monthly_report: boolean;
    server_recovery: Recovery;
    service_recovery: Recovery;
  };
  notify: string[];
  phones: string[];
}

export type Role = 'operator' | 'viewer';

export type View = 'operator' | 'wall' | 'review';

export type ReportState = 'draft' | 'held' | 'sent';

/** A monthly report as the engine lists it (`GET /api/v1/reports`, Tauri `reports` list). */
export interface ReportDraft {
  id: number;
  customer: string;
  /** `YYYY-MM`. */
  month: string;
  state: ReportState;
  created_at: Iso;
  sent_at: Iso | null;
  sent_by: string | null;
  held_by: string | null;
  outbox_id: number | null;
  customer_name: string | null;
  /** Not sent and past the 9th of the following month (the engine decides). */
  overdue: boolean;
}

/** One report of a send-all: queued (`outbox`) or refused (`error`). */
export interface ReportSendResult {
  report: number;
  outbox: number | null;
  error: string | null;
}

export interface AppInfo {
  /** `review`: the desktop opened an exported incident log (`--review FILE`): no live feed. */
  mode: 'demo' | 'fleet' | 'remote' | 'web' | 'fake' | 'review';
  source: string;
  db: string;
  version: string;
  role: Role;
  /** The caller's name (browser: from `whoami`), when known. */
  name: string;
  view: View;
}

/** What `acknowledge` answers: who took which incident, when. */
export interface Acknowledgement {
  incident: number;
  host: string;
  check: string;
  by: string;
  at: Iso;
}

/** One step of an incident's story (`label`: the engine's Japanese name of the step). */
export interface StoryStep {
  at: Iso;
  kind: string;
  label: string;
  detail: string;
}

/** An incident as the review lists it, with its whole story in order. */
export interface ReviewIncident {
  id: number;
  host: string;
  /** The customer of the server when the incident was logged (id), or null. */
  customer: string | null;
  /** That customer's name, or null (unknown customer, or an older engine). */
  customer_name: string | null;
  check: string;
  level: LevelNumber;
  trigger: string;
  opened_at: Iso;
  closed_at: Iso | null;
  duration_secs: number | null;
  story: StoryStep[];
}

/** What the review asks for; empty fields are left out of the request. Dates: YYYY-MM-DD (JST). */
export interface ReviewFilter {
  server?: string;
  customer?: string;
  level?: number;
  check?: string;
  from?: string;
  to?: string;
  operator?: string;
  text?: string;
  open?: boolean;
  limit?: number;
}

/** What a request failure means for the operator; `code` is for the program. */
export class BackendError extends Error {
  constructor(
    readonly code: 'unauthorized' | 'network' | 'server' | 'bad_response',
    message: string,
    /** The engine's error code (`forbidden`, `conflict`, `not_found`, `bad_request` …), if any. */
    readonly detail: string = '',
  ) {
    super(message);
    this.name = 'BackendError';
  }
}

/**
 * One console backend. Messages (snapshot, delta, event, connection, open_incident) arrive
 * through `subscribe`; requests are promises. A backend reconnects by itself; it reports
 * `unauthorized` through `onUnauthorized` (browser only) so the login form can come back.
 */
export interface Backend {
  readonly kind: 'tauri' | 'http' | 'fake';
  info(): Promise<AppInfo>;
  /** Starts delivering messages; returns the function that stops them. */
  subscribe(onMessage: (m: ConsoleMessage) => void): () => void;
  incidents(open: boolean, limit: number): Promise<Incident[]>;
  samples(host: string, resource: string, hours: number): Promise<Sample[]>;
  customers(): Promise<Customer[]>;
  /** An operator takes an open incident (with an optional note). */
  acknowledge(incident: number, note: string): Promise<Acknowledgement>;
  /** The incident log, filtered, newest first. */
  review(filter: ReviewFilter): Promise<ReviewIncident[]>;
  /** Desktop review mode: a native file chooser; the new app info, or null when cancelled. */
  readonly canOpenReview: boolean;
  openReview(): Promise<AppInfo | null>;
  /** Desktop: calls `cb` with a menu item's id when the user chooses it (File → Open…:
   * `open_review`); returns the function that stops listening. Elsewhere: never calls. */
  onMenu(cb: (id: string) => void): () => void;
  /** Saves a text file for the user (browser: a download; desktop: the native save dialog).
   * The saved path (or the name, when the browser does not tell), or null when cancelled. */
  saveFile(name: string, text: string): Promise<string | null>;
  /** The monthly reports of `month` (`YYYY-MM`), or of every month. */
  reports(month?: string): Promise<ReportDraft[]>;
  /** A report as the HTML of its mail (to show in a sandboxed frame, never as markup). */
  reportPreview(id: number): Promise<string>;
  /** Operators only (else `forbidden`): send (mails the customer), hold, or release a report. */
  reportAction(id: number, op: 'send' | 'hold' | 'release'): Promise<void>;
  /** Operators only: sends every draft of `month` (held ones stay). */
  reportSendAll(month: string): Promise<ReportSendResult[]>;
}
