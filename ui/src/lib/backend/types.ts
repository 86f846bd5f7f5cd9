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
  /** Why the engine did not (or will not) recover this incident by itself: an operator decides. */
  prompt: Prompt | null;
  /** The last attempt could not run for a reason on the NOC's side (why); the check is unknown
   * until the next attempt that does. Optional: older engines do not send it. */
  unknown?: string | null;
}

/** Why an operator must decide about a recovery (`CheckView.prompt`). */
export type PromptCode =
  | 'not_included'
  | 'outside_hours'
  | 'spot_only'
  | 'already_tried'
  | 'restart_limit'
  | 'paused'
  | 'waiting'
  | 'no_access';

export interface Prompt {
  /** `restart:http` or `reboot`. */
  action: string;
  /** A PromptCode, or a code this console does not know yet (shown as the message). */
  code: PromptCode | string;
  message: string;
}

export type ResourceKind = 'load' | 'disk' | 'inode' | 'mailq';

export interface ResourceView {
  resource: ResourceKind | string;
  value: string;
  sample_level: number | null;
  level: number | null;
  at: Iso | null;
}

/** The running maintenance pause of a server, as the live view carries it. */
export interface Maintenance {
  /** The window's id (for end/extend); null from an older engine. */
  id: number | null;
  until: Iso | null;
  reason: string;
  by: string;
}

export type RecoveryOutcome = 'recovered' | 'failed' | 'already_up' | 'interrupted';

/** One recovery (a service restart or a server reboot), running or finished. */
export interface Recovery {
  id: number;
  host: string;
  incident_id: number | null;
  /** `restart:http` or `reboot`. */
  action: string;
  requested_by: string;
  automatic: boolean;
  billable_yen: number | null;
  started_at: Iso;
  finished_at: Iso | null;
  outcome: RecoveryOutcome | string | null;
  detail: string;
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
  /** The running recovery of this server (null: none). */
  recovery: Recovery | null;
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
  /** What is wrong on the NOC's side now (absent from older engines). */
  alarms?: HealthAlarm[];
}

/** A problem of the engine itself (never a customer's server); the UI words it from `code`. */
export interface HealthAlarm {
  code: 'local_failures' | 'store_waiting' | 'store_failed' | string;
  since: Iso;
  /** The system's own error text (English). */
  detail: string;
  count: number;
  total: number;
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
      /** incident_opened: the server is in maintenance (no notification). */
      paused?: boolean;
    }
  | {
      /** A pause ended with the problem still there: the held alert goes out now. */
      event: 'alert_released';
      id: number;
      host: string;
      check: string;
      level: LevelNumber;
      trigger: string;
      at: Iso;
    }
  | {
      event: 'recovery_started';
      id: number;
      host: string;
      incident_id: number | null;
      action: string;
      by: string;
      automatic: boolean;
      at: Iso;
    }
  | {
      event: 'recovery_finished';
      id: number;
      host: string;
      incident_id: number | null;
      action: string;
      outcome: RecoveryOutcome | string;
      detail: string;
      at: Iso;
    }
  | { event: 'note_added'; incident: number; host: string; by: string; text: string; at: Iso }
  | { event: 'call_logged'; incident: number; host: string; call: Call }
  | { event: 'status_report_queued'; incident: number; host: string; by: string; at: Iso }
  | { event: 'maintenance_changed'; maintenance: MaintenanceWindow }
  /** The engine's prompt about an incident changed (an operator must decide, or null). */
  | { event: 'recovery_prompt'; incident: number; host: string; prompt: Prompt | null }
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
  /** Who: an operator's name, `engine`, or a rule (`rule:auto-restart`); null in logs older
   * than the audit log (and left out by older engines). */
  actor?: string | null;
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

/** What a plan includes of a kind of recovery (the customer's entitlements). */
export type RecoveryPolicy = 'none' | 'spot' | 'business_hours' | 'always';

export interface Customer {
  id: string;
  name: string;
  plan: Plan;
  entitlements: {
    service_monitoring: boolean;
    resource_monitoring: boolean;
    phone_call: boolean;
    monthly_report: boolean;
    server_recovery: RecoveryPolicy;
    service_recovery: RecoveryPolicy;
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
  /** Who: an operator's name, `engine`, or a rule (`rule:auto-restart`); null in logs older
   * than the audit log (and left out by older engines). */
  actor?: string | null;
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
    /** The engine's error code (`forbidden`, `conflict`, `not_found`, `invalid`, and for
     * actions `busy`, `needs_consent`, `not_included`, `closed`, `taken`, `no_action`, `invalid`,
     * `stopped` …), if any. */
    readonly detail: string = '',
    /** The whole error answer, when it carried more (`busy`: `{recovery}`). */
    readonly data: unknown = null,
  ) {
    super(message);
    this.name = 'BackendError';
  }
}

// ------------------------------------------------------------------------------ console actions
// docs/console-actions.md: one request type for every transport.

/** The customer's consent to a billable (spot) recovery: amount_yen ≥ 20,000. */
export interface SpotConsent {
  customer_person: string;
  amount_yen: number;
}

export type CallOutcome = 'answered' | 'no_answer' | 'busy' | 'voicemail';
export type ConsentKind = 'investigation' | 'spot_recovery';
export interface PauseScope {
  kind: 'server' | 'customer';
  id: string;
}

export type Action =
  | { type: 'acknowledge'; incident: number; note?: string }
  | { type: 'note'; incident: number; text: string }
  | { type: 'recover'; incident: number; consent?: SpotConsent }
  | { type: 'reboot'; host: string; consent?: SpotConsent }
  | { type: 'restart'; host: string; service: string; consent?: SpotConsent }
  | {
      type: 'log_call';
      incident: number;
      number: string;
      started_at?: Iso;
      rings?: number;
      outcome: CallOutcome;
      answered_by?: string;
      notes?: string;
    }
  | { type: 'consent'; incident: number; kind: ConsentKind; amount_yen: number; customer_person: string; note?: string }
  | { type: 'status_report'; incident: number; subject: string; body: string }
  | { type: 'pause'; scope: PauseScope; starts_at?: Iso; ends_at?: Iso; minutes?: number; reason: string }
  | { type: 'end_pause'; maintenance: number }
  | { type: 'extend_pause'; maintenance: number; ends_at?: Iso; minutes?: number };

export type ActionType = Action['type'];

/** One logged phone call of the escalation. */
export interface Call {
  id: number;
  incident_id: number;
  number: string;
  started_at: Iso;
  rings: number;
  outcome: CallOutcome | string;
  answered_by: string | null;
  notes: string;
  operator: string;
}

/** A recorded cost consent of the customer. */
export interface Consent {
  id: number;
  incident_id: number;
  kind: ConsentKind | string;
  amount_yen: number;
  customer_person: string;
  note: string;
  operator: string;
  at: Iso;
}

/** A maintenance window (pause) as the engine records it. */
export interface MaintenanceWindow {
  id: number;
  scope: PauseScope;
  starts_at: Iso;
  ends_at: Iso;
  reason: string;
  who: string;
  created_at: Iso;
  active: boolean;
}

export interface NoteRecord {
  incident: number;
  by: string;
  text: string;
  at: Iso;
}

export interface StatusReportQueued {
  incident: number;
  outbox_id: number | null;
  at: Iso;
}

/** What `act` answers: the same `type`, with what was recorded. */
export type ActionResult =
  | ({ type: 'acknowledge' } & Acknowledgement)
  | ({ type: 'note' } & NoteRecord)
  | ({ type: 'recover' | 'reboot' | 'restart' } & Recovery)
  | ({ type: 'log_call' } & Call)
  | ({ type: 'consent' } & Consent)
  | ({ type: 'status_report' } & StatusReportQueued)
  | ({ type: 'pause' | 'end_pause' | 'extend_pause' } & MaintenanceWindow);

/** The phone escalation of an incident (`GET /api/v1/incidents/{id}/escalation`). */
export interface Escalation {
  incident: {
    id: number;
    host: string;
    check: string;
    level: LevelNumber;
    trigger: string;
    opened_at: Iso;
    closed_at: Iso | null;
  };
  customer: { id: string; name: string; plan: Plan; phones: string[]; notify: string[] };
  calls: Call[];
  consents: Consent[];
  consented_yen: number;
  /** A call of the current round was answered. */
  answered: boolean;
  /** Every number was called in the round without an answer. */
  exhausted: boolean;
  /** The prefilled 状況報告 mail. */
  status_report: { to: string[]; subject: string; body: string };
  status_reports_sent: number;
}

/** One entry of the hash-chained audit log. */
export interface AuditEntry {
  id: number;
  at: Iso;
  kind: string;
  actor: string;
  incident_id: number | null;
  host: string;
  check: string;
  detail: string;
  hash: string;
}

export interface AuditPage {
  entries: AuditEntry[];
  verify: { ok: boolean; entries: number; error: string | null };
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
  /** One server with its latest response times and check times (deltas carry a server only
   * when what its tile shows changed); null when the fleet has no such server. */
  serverDetail(label: string): Promise<ServerView | null>;
  /** An operator takes an open incident (with an optional note): `act({type: 'acknowledge'})`. */
  acknowledge(incident: number, note: string): Promise<Acknowledgement>;
  /** Operators only: any console action (docs/console-actions.md). A refusal throws a
   * BackendError whose `detail` is the engine's code (`busy`, `needs_consent`, …). */
  act(action: Action): Promise<ActionResult>;
  /** The phone escalation of an incident: numbers, calls, consents, the status report. */
  escalation(incident: number): Promise<Escalation>;
  /** Active and future maintenance windows, then the last ended ones. */
  maintenance(): Promise<MaintenanceWindow[]>;
  /** Recoveries, newest first (of one host, when given). */
  recoveries(host?: string, limit?: number): Promise<Recovery[]>;
  /** The audit log, newest first (entries before the id `before`), with its verification. */
  audit(limit?: number, before?: number): Promise<AuditPage>;
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
