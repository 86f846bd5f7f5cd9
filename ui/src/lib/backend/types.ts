//! The console contract as the UI names it. The shapes the engine sends (views, feed messages,
//! events, actions and their answers, errors, the reads beside the view) are generated from the
//! Rust types into `./generated/` (`make contract-types`; a Rust test fails when they are stale):
//! this file re-exports them, some under the names the UI has always used, and adds only what has
//! no Rust counterpart, each marked so. No transport code here.

import type * as Engine from './generated/engine';
import type * as Reports from './generated/reports';

// The contract's types, under the names the UI has always used where they differ from Rust's.

export type Acknowledgement = Engine.Acknowledged;
export type ActionResult = Engine.ActionDone;
export type Action = Engine.ActionRequest;
export type ActionsView = Engine.ActionsView;
export type Availability = Engine.Availability;
export type AvailabilityCode = Engine.Availability['code'];
export type ApiError = Engine.ApiError;
export type AuditPage = Engine.AuditPage;
export type BackupEligibility = Engine.BackupEligibilityView;
export type BackupProgress = Engine.BackupProgressView;
export type BusyAnswer = Engine.BusyAnswer;
export type Call = Engine.CallRecord;
export type Caller = Engine.Caller;
export type Catalogue = Engine.Catalogue;
export type CheckView = Engine.CheckView;
export type Consent = Engine.ConsentRecord;
export type ConsoleStats = Engine.ConsoleStats;
export type Customer = Engine.CustomerView;
export type CustomerEdit = Engine.CustomerEdit;
export type ContractEdit = Engine.ContractEdit;
export type FleetEdit = Engine.FleetEdit;
export type FleetEditRequest = Engine.FleetEditRequest;
export type FleetEdited = Engine.FleetEdited;
export type FleetSource = Engine.FleetSource;
export type EngineEvent = Engine.EngineEvent;
export type Entitlements = Engine.Entitlements;
export type Escalation = Engine.Escalation;
export type AuditEntry = Engine.EventRecord;
export type IncidentEvent = Engine.EventRecord;
export type Health = Engine.Health;
export type HealthAlarm = Engine.HealthAlarm;
export type Incident = Engine.IncidentRecord;
export type MaintenanceScope = Engine.MaintenanceScope;
export type MaintenanceView = Engine.MaintenanceView;
export type MaintenanceWindow = Engine.MaintenanceWindow;
export type NoteRecord = Engine.NoteAdded;
export type PauseScope = Engine.PauseScope;
export type Prompt = Engine.Prompt;
export type RecoveryPolicy = Engine.RecoveryPolicy;
export type Recovery = Engine.RecoveryRecord;
export type BackupRun = Engine.BackupRun;
export type PendingUpdate = Engine.PendingUpdateRow;
export type UpdateRun = Engine.UpdateRun;
export type UpdatePlan = Engine.UpdatePlan;
export type UpdatesView = Engine.UpdatesView;
export type ResourceUp = Engine.ResourceUpRecord;
export type ConfigWorkMonth = Engine.ConfigWorkMonth;
export type RecoveryView = Engine.RecoveryView;
export type ReportState = Engine.ReportState;
export type ResourceView = Engine.ResourceView;
export type ReviewFilter = Engine.ReviewQuery;
export type ReviewIncident = Engine.ReviewRow;
export type Role = Engine.Role;
export type Sample = Engine.Sample;
export type ServerView = Engine.ServerView;
export type ServerEdit = Engine.ServerEdit;
export type SpotConsent = Engine.SpotConsent;
export type StatusReportDraft = Engine.StatusReportDraft;
export type StatusReportQueued = Engine.StatusReportQueued;
export type StoryStep = Engine.StoryStep;
export type Verification = Engine.Verification;
export type ReportDraft = Reports.ReportDraft;
export type ReportSendResult = Reports.ReportSent;
export type ReportStateChanged = Reports.ReportStateChanged;

/** An RFC 3339 UTC time as the engine writes it (UI-only name: the contract says `string`). */
export type Iso = string;

/** The codes of `Prompt.code` this console has words for (UI-only: translation keys; the engine
 * may send others, shown as its message). */
export type PromptCode =
  | 'not_included'
  | 'outside_hours'
  | 'spot_only'
  | 'already_tried'
  | 'restart_limit'
  | 'paused'
  | 'watchdog'
  | 'waiting'
  | 'no_access'
  | 'escalate'
  | 'escalation_not_included';

/** `LogCall.outcome` values the call form offers (UI-only: the form's choices). */
export type CallOutcome = 'answered' | 'no_answer' | 'busy' | 'voicemail';

export type ActionType = Engine.ActionRequest['type'];

/** The connection to the engine, as a backend reports it (UI-only: made by the transport). */
export interface Connection {
  connected: boolean;
  since: Iso;
  message: string;
}

/** What a backend delivers: the engine's messages, and two of the transports' own (UI-only):
 * `open_incident` (the desktop shell: a notification was clicked) and `connection`. */
export type ConsoleMessage = Engine.ConsoleMessage | { type: 'open_incident'; id: number } | ({ type: 'connection' } & Connection);

export type View = 'operator' | 'wall' | 'review';

/** The desktop shell's (or the browser's) description of this console (UI-only here: the
 * shell's Rust type is not part of the generated contract; `normalize.appInfo` fills it in). */
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
  /** Services, checks, thresholds, plans and yen limits, as the engine knows them (fixed while
   * it runs): the console draws from this, never from its own copy. */
  catalogue(): Promise<Catalogue>;
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
  /** Backup runs and generations of a server, newest first (contract §7). */
  backups(host: string, limit?: number): Promise<BackupRun[]>;
  /** The pending security updates the last detection of a server found (contract §8). */
  updates(host: string): Promise<PendingUpdate[]>;
  /** A server's update jobs, newest first (their output is in the audit log). */
  updateRuns(host: string, limit?: number): Promise<UpdateRun[]>;
  /** Temporary resource-up requests, newest first (`open`: those not restored or cancelled). */
  resourceUps(open?: boolean): Promise<ResourceUp[]>;
  /** A customer's configuration work of a month (`YYYY-MM`) and what is left of it. */
  configWork(customer: string, month: string): Promise<ConfigWorkMonth>;
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
  /** The fleet file's customers and servers as a console edits them, with its revision. */
  fleetSource(): Promise<FleetSource>;
  /** Operators (contract and plan: admins): an edit written into the fleet file and applied.
   * Refusals throw with the engine's code: `stale` (the file changed since `revision`),
   * `invalid` (the message is the file's FILE:LINE:COL diagnostic), `forbidden`, `not_found`… */
  editFleet(req: FleetEditRequest): Promise<FleetEdited>;
}
