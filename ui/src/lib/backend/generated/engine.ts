// The console contract, generated from the Rust types by anshin-engine `contract::engine_types`.
// Do not edit: change the Rust type, then run `make contract-types`.

/**
 * An acknowledgement the engine recorded.
 */
export type Acknowledged = { incident: number, host: string, check: string, by: string, at: string, };

/**
 * What the engine did for a request (`{"type": …, …the record}`).
 */
export type ActionDone = { "type": "acknowledge" } & Acknowledged | { "type": "note" } & NoteAdded | { "type": "recover" } & RecoveryRecord | { "type": "reboot" } & RecoveryRecord | { "type": "restart" } & RecoveryRecord | { "type": "log_call" } & CallRecord | { "type": "consent" } & ConsentRecord | { "type": "status_report" } & StatusReportQueued | { "type": "pause" } & MaintenanceWindow | { "type": "end_pause" } & MaintenanceWindow | { "type": "extend_pause" } & MaintenanceWindow | { "type": "recover_network" } & NetworkWork | { "type": "backup" } & BackupRequested | { "type": "restore" } & RestoreRequested | { "type": "refresh_updates" } & UpdatesRefreshing | { "type": "plan_updates" } & UpdatePlan | { "type": "apply_updates" } & UpdateRun | { "type": "request_resource_up" } & ResourceUpRecord | { "type": "set_resource_up_state" } & ResourceUpRecord | { "type": "record_config_work" } & ConfigWorkRecord;

/**
 * A console's request. Who asks is not part of it: the transport knows the caller. Fields
 * with a default may be left out (`?` in TypeScript).
 */
export type ActionRequest = { "type": "acknowledge", incident: number, note?: string, } | { "type": "note", incident: number, text: string, } | { "type": "recover", incident: number, consent?: SpotConsent | null, } | { "type": "reboot", host: string, consent?: SpotConsent | null, } | { "type": "restart", host: string, service: string, consent?: SpotConsent | null, } | { "type": "log_call", incident: number, number: string, started_at?: string | null, rings?: number | null, 
/**
 * `answered`, `no_answer`, `busy` or `voicemail`.
 */
outcome: string, answered_by?: string | null, notes?: string, } | { "type": "consent", incident: number, 
/**
 * `investigation` or `spot_recovery`.
 */
kind: string, amount_yen: number, customer_person: string, note?: string, 
/**
 * Why the charge arose (contract §9.8): `customer_change`, `traffic_surge`, `attack` or
 * `other` (the catalogue's `charge_causes`). Required: a missing or unknown cause is
 * refused `invalid`, naming the four (so it is read as empty here, not refused by serde).
 */
cause: string, } | { "type": "status_report", incident: number, subject: string, body: string, } | { "type": "pause", scope: PauseScope, starts_at?: string | null, ends_at?: string | null, minutes?: number | null, reason: string, } | { "type": "end_pause", maintenance: number, } | { "type": "extend_pause", maintenance: number, ends_at?: string | null, minutes?: number | null, } | { "type": "recover_network", gateway: string, } | { "type": "backup", host: string, full: boolean, } | { "type": "restore", host: string, generation: number, path?: string | null, to?: string | null, in_place: boolean, 
/**
 * Who asked on the customer's side (contract §7: recorded; the customer is mailed when
 * the restore is done).
 */
requested_by?: string | null, } | { "type": "refresh_updates", host: string, } | { "type": "plan_updates", host: string, planned_at: string, } | { "type": "apply_updates", host: string, packages?: Array<string>, cms?: boolean, } | { "type": "request_resource_up", host: string, from: string, until: string, what: string, } | { "type": "set_resource_up_state", request: number, state: ResourceUpState, } | { "type": "record_config_work", customer: string, day: string, minutes: number, who: string, what: string, billable?: boolean, };

/**
 * Whether each operator action on a server can work now, and if not why (contract §4.3): the
 * console draws a button only where the engine would act, and the reason where it would not.
 */
export type ActionsView = { 
/**
 * Restarting one of its services (a service incident's recovery).
 */
restart: Availability, 
/**
 * Rebooting it (a ping or SSH incident's recovery).
 */
reboot: Availability, 
/**
 * Logging the phone escalation of one of its incidents.
 */
phone: Availability, 
/**
 * A maintenance pause.
 */
pause: Availability, };

/**
 * Every rejection of the console API (and of a desktop command): a stable `code` consoles
 * translate (`unauthorized`, `forbidden`, `not_found`, `invalid`, `busy`, `needs_consent` …)
 * and a message in English for the operator.
 */
export type ApiError = { code: string, message: string, };

/**
 * A page of the audit log, newest first, with the chain verified.
 */
export type AuditPage = { entries: Array<EventRecord>, verify: Verification, };

/**
 * One action's answer: `code` is `ok`, or why not — `no_access` (no SSH access in the fleet
 * file), `no_action` (nothing to do it with: no reboot action, or a gateway), `not_included`
 * (the plan in force, at this hour), `needs_consent` (billable spot work: the customer's
 * consent first), `busy` (a recovery of the server is running). `needs_consent` and `busy` are
 * still offered: they lead to the consent, or say who is recovering.
 */
export type Availability = { code: "ok" | "no_access" | "no_action" | "not_included" | "needs_consent" | "busy", };

/**
 * Whether a server is backed up (contract §7, `anshin_core::backup::eligibility`): the limits
 * are the catalogue's (`backup_limits`).
 */
export type BackupEligibilityView = { 
/**
 * `eligible`, `not_in_plan` (Zero, 30), `not_measured` (no poll of its paths yet, or no SSH
 * access), `too_big` (more bytes used than the limit), `too_many_inodes`.
 */
code: string, 
/**
 * Bytes used on the file systems of the backed-up paths (each counted once), when measured.
 */
used_bytes: number | null, 
/**
 * Inodes used there, when measured.
 */
used_inodes: number | null, 
/**
 * Why it could not be measured (`not_measured`; English, for the operator's investigation).
 */
why: string | null, 
/**
 * The tile's backup badge of a backed-up server: `last_failed` (its latest run failed or was
 * cut off) or `stale` (its newest generation is older than 48 h); none when fine.
 */
attention: "last_failed" | "stale" | null, 
/**
 * The backup going now, as its archive streams in (told about once a second).
 */
running: BackupProgressView | null, };

/**
 * Full (GNU tar level 0) or differential (level 1 against its full).
 */
export type BackupKind = "full" | "differential";

/**
 * The limits of backup eligibility (contract §7: 50 GB decimal, 500,000 inodes, used on the
 * backed-up file systems).
 */
export type BackupLimitsEntry = { max_used_bytes: number, max_used_inodes: number, };

/**
 * A backup going now: the run, its kind, since when, what came so far.
 */
export type BackupProgressView = { run: number, 
/**
 * `full` | `differential`.
 */
kind: string, 
/**
 * RFC 3339 UTC.
 */
started: string, 
/**
 * Archive bytes received so far (before compression).
 */
bytes: number, 
/**
 * Files in the archive so far.
 */
files: number, 
/**
 * Bytes a second since it started.
 */
rate: number, };

/**
 * A backup the engine started on request (its run appears in `GET /api/v1/backups` as soon as
 * it recorded its start).
 */
export type BackupRequested = { host: string, full: boolean, by: string, at: string, };

/**
 * One backup run (an `ok` one is a generation).
 */
export type BackupRun = { 
/**
 * The generation's number (the run's id).
 */
id: number, host: string, kind: BackupKind, 
/**
 * A differential's full.
 */
base: number | null, 
/**
 * `running`, `ok` (a generation), `failed`, `interrupted` (cut off by a stop or a lost
 * connection), `pruned` (a generation removed after a newer full completed).
 */
state: string, requested_by: string, 
/**
 * RFC 3339 UTC.
 */
started_at: string, finished_at: string | null, 
/**
 * What the backup store holds of it (compressed).
 */
bytes: number, files: number, 
/**
 * Files that could not be read (recorded and counted, not a failed run).
 */
warnings: number, 
/**
 * The archive and snapshot files, relative to the backup store.
 */
archive: string | null, snapshot: string | null, 
/**
 * Why it failed, or a short summary.
 */
detail: string, pruned_at: string | null, };

/**
 * The `409` of a running recovery (`busy`) also carries the running one.
 */
export type BusyAnswer = { code: string, message: string, recovery: RecoveryRecord, };

/**
 * A logged call (the console's **Call**).
 */
export type CallRecord = { id: number, incident_id: number, number: string, started_at: string, rings: number, outcome: string, answered_by: string | null, notes: string, operator: string, };

/**
 * Who is calling: the token's role and the name it was given (shown as who acted).
 */
export type Caller = { role: Role, name: string, };

/**
 * Everything of the contract a console needs to draw, from the engine (contract §1, §2, §4).
 */
export type Catalogue = { 
/**
 * The services of contract §2.2, in the contract's order.
 */
services: Array<ServiceEntry>, 
/**
 * Every check id a server's incidents can carry (ping, SSH, each service, each resource,
 * the host key), with its name on the console: the review's filter offers these. A custom
 * check is `custom:NAME` and shows its own name.
 */
checks: Array<CheckEntry>, 
/**
 * The resources of contract §2.4 with their thresholds.
 */
resources: Array<ResourceEntry>, 
/**
 * The plans of contract §1.1 and what each includes.
 */
plans: Array<PlanEntry>, 
/**
 * The least a spot recovery costs (contract §1.2).
 */
spot_min_yen: number, 
/**
 * What an investigation may cost without asking the customer again (contract §4.6).
 */
investigation_cap_yen: number, 
/**
 * Why a charge arose, one of which every consent records (contract §9.8), in the
 * contract's order.
 */
charge_causes: Array<CauseEntry>, 
/**
 * Business hours, Japan time, on weekdays that are not public holidays (contract §1.3):
 * for words only; whether they hold now is `Health::business_hours`.
 */
business_hours: HoursEntry, 
/**
 * When monthly reports go out by themselves (contract §5.1).
 */
monthly_report: ReportTimesEntry, 
/**
 * A server above either is not backed up (contract §7).
 */
backup_limits: BackupLimitsEntry, 
/**
 * Every kind of the event log with its names (the review, the audit log, a detail's log).
 */
event_kinds: Array<EventKindEntry>, };

/**
 * A cause of a charge: its id (what a consent sends and records) and its names.
 */
export type CauseEntry = { 
/**
 * `customer_change`, `traffic_surge`, `attack`, `other`.
 */
id: string, name_ja: string, name_en: string, };

/**
 * A check id and its name on the console.
 */
export type CheckEntry = { id: string, name_ja: string, name_en: string, 
/**
 * `server` (ping, SSH), `service`, `resource`, `security` (the SSH host key), `backup`.
 */
group: string, };

export type CheckView = { check: string, 
/**
 * `None` until the first result arrives.
 */
ok: boolean | null, hard: boolean, failures: number, detail: string, ms: number, last_at: string | null, incident: number | null, 
/**
 * The open incident's level.
 */
level: number | null, 
/**
 * When the open incident opened.
 */
since: string | null, 
/**
 * The operator who took the open incident.
 */
acknowledged_by: string | null, 
/**
 * Why a failure is not an incident: "host_unreachable", "gateway_down:LABEL", or
 * "awaiting_ping:LABEL" (the ping it depends on has not answered since it began failing).
 */
suppressed: string | null, 
/**
 * Why the engine did not (or not yet) recover the open incident by itself: an operator
 * decides (`None`: no incident, or the automatic recovery ran).
 */
prompt: Prompt | null, 
/**
 * The last attempt could not be made properly on the NOC's side (no file descriptor, no
 * buffer, the prober ran late): why. The check's state is the one before it (unknown now).
 */
unknown: string | null, };

/**
 * A customer's configuration work of one month.
 */
export type ConfigWorkMonth = { customer: string, 
/**
 * `YYYY-MM` (Japan time).
 */
month: string, 
/**
 * Included minutes recorded.
 */
used_minutes: number, 
/**
 * Included minutes left (of 60).
 */
remaining_minutes: number, billable_minutes: number, entries: Array<ConfigWorkRecord>, };

/**
 * A configuration-work entry as the ledger holds it.
 */
export type ConfigWorkRecord = { id: number, customer: string, 
/**
 * The day of the work (Japan time).
 */
day: string, minutes: number, 
/**
 * Who did the work.
 */
who: string, what: string, 
/**
 * Billed on top of the plan (beyond the monthly allowance).
 */
billable: boolean, recorded_by: string, at: string, };

/**
 * A recorded consent (the console's **Consent**).
 */
export type ConsentRecord = { id: number, incident_id: number, kind: string, amount_yen: number, customer_person: string, note: string, operator: string, at: string, 
/**
 * Why the charge arose: `customer_change`, `traffic_surge`, `attack` or `other` (the
 * catalogue's `charge_causes`; consents recorded before causes existed are `other`).
 */
cause: string, };

/**
 * The messages, as serialized (the shape consoles parse).
 */
export type ConsoleMessage = { "type": "snapshot", rev: number, servers: Array<ServerView>, health: Health, } | { "type": "delta", rev: number, servers: Array<ServerView>, health: Health, } | { "type": "event", event: EngineEvent, };

/**
 * How the engine's consoles are doing.
 */
export type ConsoleStats = { 
/**
 * Feeds open now (WebSockets, windows).
 */
connected: number, 
/**
 * Snapshots sent since the engine started (first ones and resyncs).
 */
snapshots_sent: number, 
/**
 * Snapshots serialized (shared by every console that connected meanwhile).
 */
snapshots_built: number, 
/**
 * Consoles dropped for falling behind twice within 10 s.
 */
dropped: number, };

/**
 * A contract's term as the file writes it (days `YYYY-MM-DD`, Japan days).
 */
export type ContractEdit = { start: string, 
/**
 * 6 or 12.
 */
months: number, 
/**
 * The day the contract ends (the customer cancelled).
 */
end?: string | null, };

/**
 * A contract's term as consoles show it (days are Japan days, `YYYY-MM-DD`).
 */
export type ContractView = { start: string, 
/**
 * 6 or 12.
 */
months: number, 
/**
 * When the customer cancelled: watching stops that day.
 */
end: string | null, 
/**
 * The next automatic renewal (None once the contract ends before it).
 */
next_renewal: string | null, };

/**
 * A customer as a console edits it: the `[[customer]]` keys, as the file writes them.
 */
export type CustomerEdit = { id: string, name: string, 
/**
 * Notification addresses (1 to 3).
 */
notify: Array<string>, 
/**
 * Emergency numbers, in calling order (at most 3).
 */
phones: Array<string>, 
/**
 * The plan in force, as the file writes it: `zero`, `30`, `60`, `150`, `200`.
 */
plan: string, 
/**
 * The Japan day (`YYYY-MM-DD`) a changed plan takes effect, appended to `plan_history`;
 * needed when the plan changes, ignored otherwise (and always empty when read).
 */
plan_from?: string | null, 
/**
 * `contract = { start, months, end }`.
 */
contract?: ContractEdit | null, 
/**
 * `root = true|false`; none: the plan's default (contract §9.2).
 */
root?: boolean | null, };

/**
 * A customer's contract as consoles show it beside a server: plan, what it entitles, contacts.
 */
export type CustomerView = { id: string, name: string, 
/**
 * The plan in force when the view was made (contract §9.1).
 */
plan: string, entitlements: Entitlements, notify: Array<string>, phones: Array<string>, 
/**
 * The contract's term, when the fleet file gives it.
 */
contract: ContractView | null, 
/**
 * Dated plan changes, oldest first (`plan` is the one in force now).
 */
plan_history: Array<PlanChangeView>, 
/**
 * The customer holds root (contract §9.2): changes made as root may prevent recovery.
 */
root: boolean, };

export type EngineEvent = { "event": "engine_started", checks: number, resumed_open: number, at: string, } | { "event": "fleet_reloaded", summary: string, by: string, at: string, } | { "event": "fleet_rejected", errors: Array<string>, by: string, at: string, } | { "event": "incident_opened", id: number, host: string, check: string, level: number, trigger: string, at: string, 
/**
 * The server is in a maintenance pause: the alert is held, consoles do not notify.
 */
paused: boolean, } | { "event": "incident_closed", id: number, host: string, check: string, level: number, trigger: string, at: string, 
/**
 * Why it closed when not by its own recovery: `removed` (its server or check left the
 * fleet; no mail). None: it recovered.
 */
reason: string | null, } | { "event": "incident_level_changed", id: number, host: string, check: string, level: number, trigger: string, at: string, 
/**
 * The server is in a maintenance pause (a rise is not notified).
 */
paused: boolean, } | { "event": "incident_acknowledged", id: number, host: string, check: string, by: string, note: string, at: string, } | { "event": "check_state", host: string, check: string, state: string, attempt: number, detail: string, at: string, } | { "event": "recovery_started", id: number, host: string, incident_id: number | null, action: string, by: string, automatic: boolean, at: string, } | { "event": "recovery_finished", id: number, host: string, incident_id: number | null, action: string, outcome: string, detail: string, at: string, } | { "event": "note_added", incident: number, host: string, by: string, text: string, at: string, } | { "event": "call_logged", incident: number, host: string, call: CallRecord, } | { "event": "status_report_queued", incident: number, host: string, by: string, at: string, } | { "event": "resource_up_reminder", request: ResourceUpRecord, reminder: Reminder, at: string, } | { "event": "maintenance_changed", maintenance: MaintenanceWindow, } | { "event": "alert_released", id: number, host: string, check: string, level: number, trigger: string, at: string, } | { "event": "recovery_prompt", incident: number, host: string, prompt: Prompt | null, at: string, } | { "event": "engine_stopped", at: string, };

export type Entitlements = { service_monitoring: boolean, resource_monitoring: boolean, phone_call: boolean, monthly_report: boolean, server_recovery: RecoveryPolicy, service_recovery: RecoveryPolicy, 
/**
 * Temporary resource-up on request (contract §9.4).
 */
resource_up: boolean, 
/**
 * One hour a month of configuration work (contract §9.5).
 */
config_work: boolean, 
/**
 * OS security updates detected, announced and applied (contract §8).
 */
os_updates: boolean, 
/**
 * WordPress updates detected and applied (contract §8).
 */
cms_updates: boolean, };

/**
 * Everything the phone escalation panel of one incident shows.
 */
export type Escalation = { incident: IncidentRecord, customer: CustomerView | null, calls: Array<CallRecord>, consents: Array<ConsentRecord>, 
/**
 * Investigation cost the customer agreed to (the largest investigation consent).
 */
consented_yen: number, 
/**
 * Up to this many yen an investigation consent is recorded now; beyond it the engine refuses
 * `needs_call` until a call the customer answers is logged (contract §4.6, §9.8). None: the
 * customer was asked again since the latest consent, any amount is recorded.
 */
consent_without_call_yen: number | null, 
/**
 * A call of the current round was answered (the round is over).
 */
answered: boolean, 
/**
 * Every emergency number was called in the current round without an answer.
 */
exhausted: boolean, 
/**
 * The next number to call in this round, if any.
 */
next_number: string | null, status_report: StatusReportDraft | null, status_reports_sent: number, };

/**
 * One kind of the event log and its names.
 */
export type EventKindEntry = { id: string, name_ja: string, name_en: string, };

/**
 * One entry of the append-only event log (the audit log).
 */
export type EventRecord = { id: number, at: string, kind: string, incident_id: number | null, host: string | null, check: string | null, detail: string, 
/**
 * Who: an operator's name, or the engine (`engine`, `rule:auto-restart` …). None for entries
 * written before the audit log existed.
 */
actor: string | null, 
/**
 * The entry's link in the hash chain (see [`audit`]); None only in a log too old to have one.
 */
hash: string | null, };

/**
 * One edit of the file, as consoles send it (`op` says which).
 */
export type FleetEdit = { "op": "add_customer", customer: CustomerEdit, } | { "op": "change_customer", id: string, customer: CustomerEdit, } | { "op": "remove_customer", id: string, } | { "op": "add_server", server: ServerEdit, } | { "op": "change_server", label: string, server: ServerEdit, } | { "op": "remove_server", label: string, };

/**
 * What a console sends: an edit and the revision of the file it was made against.
 */
export type FleetEditRequest = { revision: string, edit: FleetEdit, };

/**
 * What an edit made answers: the file's new revision and what the reload changed.
 */
export type FleetEdited = { revision: string, summary: string, };

/**
 * What a console reads before editing: the file's revision and its customers and servers in
 * the editable shapes, in file order.
 */
export type FleetSource = { revision: string, customers: Array<CustomerEdit>, servers: Array<ServerEdit>, };

/**
 * How the engine itself is doing, for the consoles' summary bar.
 */
export type Health = { started_at: string, 
/**
 * When the decider last applied a batch of results.
 */
last_cycle_at: string | null, 
/**
 * Mails queued and not yet delivered.
 */
outbox_backlog: number, checks: number, 
/**
 * Seconds between two runs of each check.
 */
interval_secs: number, 
/**
 * What is wrong on the NOC's side now (empty: nothing). Never about a customer's server.
 */
alarms: Array<HealthAlarm>, 
/**
 * The 99th percentile of how late the last interval's attempts started after their slot
 * (ms, a histogram bucket's upper bound); None before any attempt.
 */
probe_lag_p99_ms: number | null, 
/**
 * The median of the same (ms, a bucket's upper bound); None before any attempt.
 */
probe_lag_p50_ms: number | null, 
/**
 * Check and poll attempts decided since the engine started.
 */
attempts_decided: number, 
/**
 * Check slots never attempted since the engine started: the previous attempt of the same
 * check still ran (a timeout longer than the interval) or the prober was starved past the
 * slot. 0 on a healthy engine; `make bench` fails on anything else.
 */
slots_skipped: number, 
/**
 * The consoles fed by this engine (filled in by the feed and `/health`).
 */
consoles: ConsoleStats, 
/**
 * Whether it is business hours now by the engine's clock (contract §1.3: weekdays 9–18
 * Japan time, not on public holidays): what a `business_hours` entitlement means this
 * minute. Consoles never compute hours themselves.
 */
business_hours: boolean, 
/**
 * The last changed fleet file the engine refused (`FILE:LINE:COL: message` per problem, or
 * why it could not be applied); empty while the file on disk is the fleet in force. The
 * engine goes on with the fleet it had.
 */
fleet_errors: Array<string>, };

/**
 * A problem of the engine itself, shown on every console and notified on the desktop; never
 * mailed to a customer.
 */
export type HealthAlarm = { 
/**
 * `local_failures` (more than 5 % of the last interval's attempts failed on the NOC
 * machine: `count` of `total`), `late_probes` (`count` failed attempts of the last interval
 * were not judged because the prober itself ran over a second late), `store_waiting` (the store is locked or busy: `count`
 * results wait to be decided), `store_failed` (it stayed so for 5 minutes, or failed for a
 * reason waiting does not cure), `backup_store_full` (the backup store's file system is
 * `count` % used, 80 or more, or cannot be looked at: `count` 0).
 */
code: string, 
/**
 * Since when (RFC 3339 UTC).
 */
since: string, 
/**
 * The last error as the system gave it (English, for the operator's investigation).
 */
detail: string, count: number, total: number, };

/**
 * Business hours, Japan time: from `start_hour`:00 to `end_hour`:00.
 */
export type HoursEntry = { start_hour: number, end_hour: number, };

/**
 * One incident as the log holds it.
 */
export type IncidentRecord = { id: number, host: string, check: string, level: number, trigger: string, opened_at: string, closed_at: string | null, events: Array<EventRecord>, };

/**
 * What a window covers.
 */
export type MaintenanceScope = { "kind": "server", "id": string } | { "kind": "customer", "id": string };

/**
 * A maintenance pause of a server (alerts withheld, checks still recorded).
 */
export type MaintenanceView = { id: number, until: string | null, reason: string, by: string, };

/**
 * A maintenance window as consoles see it: the record and whether it is running now.
 */
export type MaintenanceWindow = { active: boolean, id: number, scope: MaintenanceScope, starts_at: string, 
/**
 * When it ends, or ended: an extension moves it later, ending it early sets it to that
 * time, and cancelling it (ended before it began) sets it to `starts_at`.
 */
ends_at: string, reason: string, who: string, created_at: string, 
/**
 * When an operator ended it before its planned end (None: it runs, or ran, as planned).
 */
ended_at: string | null, 
/**
 * Who ended it early.
 */
ended_by: string | null, };

/**
 * Network work the NOC started on a gateway's incident.
 */
export type NetworkWork = { gateway: string, incident: number, 
/**
 * 対応開始 mails queued (one per customer behind the gateway, not paused).
 */
mails: number, by: string, at: string, };

/**
 * A note the engine recorded on an incident.
 */
export type NoteAdded = { incident: number, by: string, text: string, at: string, };

/**
 * What a pause covers: `{"kind": "server", "id": "web01"}` or `{"kind": "customer", "id": "c1001"}`.
 */
export type PauseScope = { kind: string, id: string, };

/**
 * One pending update of one server, as consoles and `anshin updates --json` get it (contract
 * §8's JSON rows).
 */
export type PendingUpdateRow = { host: string, 
/**
 * `os`, `wordpress-core`, `wordpress-plugin`, `wordpress-theme`.
 */
source: string, 
/**
 * The WordPress installation's path; empty for the OS.
 */
site: string, package: string, installed: string, candidate: string, advisory: string, 
/**
 * `critical`, `important`, `moderate`, `low` or empty.
 */
severity: string, 
/**
 * `security` or `unclassified`.
 */
class: string, 
/**
 * When the detection first found it pending.
 */
since: string, };

/**
 * One dated plan change.
 */
export type PlanChangeView = { plan: string, from: string, };

/**
 * A plan and what it includes.
 */
export type PlanEntry = { 
/**
 * The fleet file's spelling: `zero`, `30`, `60`, `150`, `200`.
 */
id: string, 
/**
 * Tax excluded.
 */
monthly_fee_yen: number, entitlements: Entitlements, };

/**
 * The engine's word to the operator about an incident it does not recover by itself.
 */
export type Prompt = { 
/**
 * `restart:http` or `reboot`; `phone` for the phone escalation.
 */
action: string, 
/**
 * `not_included`, `outside_hours`, `spot_only`, `already_tried`, `restart_limit`, `paused`,
 * `no_access`, `waiting`, `watchdog` (the Plesk option: its own watchdog first);
 * `escalate` (an hour of primary recovery passed: phone the customer, contract §9.8) or
 * `escalation_not_included` (the same on a plan without the phone escalation, §9.9).
 */
code: string, 
/**
 * In English, for logs and the CLI; consoles write their own words from `code` and `at`.
 */
message: string, 
/**
 * The moment the prompt names (RFC 3339 UTC): `waiting` — when the automatic reboot is due;
 * `outside_hours` — when business hours begin and the engine recovers by itself;
 * `watchdog` — when the NOC restarts the service if Plesk's watchdog did not;
 * `escalate`, `escalation_not_included` — when the hour of primary recovery ended.
 */
at: string | null, };

/**
 * What a plan includes of a kind of recovery, as consoles get it (the hours of
 * `business_hours` are the engine's: consoles ask it, they do not compute them).
 */
export type RecoveryPolicy = "none" | "spot" | "business_hours" | "always";

/**
 * A recovery as the log holds it (the console's **Recovery**).
 */
export type RecoveryRecord = { id: number, host: string, incident_id: number | null, action: string, requested_by: string, automatic: boolean, billable_yen: number | null, started_at: string, 
/**
 * None while it runs.
 */
finished_at: string | null, 
/**
 * `recovered`, `failed`, `already_up`, `interrupted`; None while it runs.
 */
outcome: string | null, detail: string, };

/**
 * A recovery running on a server (one at a time).
 */
export type RecoveryView = { id: number, incident_id: number | null, action: string, requested_by: string, automatic: boolean, started_at: string, };

/**
 * Which reminder of a resource-up request (contract §9.4).
 */
export type Reminder = "raise" | "restore";

/**
 * One report row.
 */
export type ReportRecord = { id: number, customer: string, 
/**
 * `2026-10`.
 */
month: string, state: ReportState, created_at: string, sent_at: string | null, sent_by: string | null, held_by: string | null, outbox_id: number | null, };

/**
 * Where a report is.
 */
export type ReportState = "draft" | "held" | "sent";

/**
 * The monthly report of a month goes out on `send_day` of the next month at `send_hour`:00
 * Japan time; one not sent by the end of the day before is overdue.
 */
export type ReportTimesEntry = { send_day: number, send_hour: number, };

/**
 * A polled resource and its thresholds.
 */
export type ResourceEntry = { 
/**
 * `load`, `mailq`, `disk`, `inode`.
 */
id: string, name_ja: string, name_en: string, 
/**
 * `%` or empty.
 */
unit: string, 
/**
 * The thresholds are per CPU: multiply by the server's CPUs (the load average).
 */
per_cpu: boolean, 
/**
 * A value equal to a threshold reaches its level (`≥`); otherwise it must exceed it (`>`).
 */
at_least: boolean, 
/**
 * Lv.2, Lv.3, Lv.4, lowest first.
 */
thresholds: Array<ThresholdEntry>, };

/**
 * A temporary resource-up request as the ledger holds it.
 */
export type ResourceUpRecord = { id: number, host: string, customer: string, 
/**
 * First and last day (Japan time, `YYYY-MM-DD`, inclusive).
 */
from_day: string, until_day: string, 
/**
 * What is raised (`memory 4 GB → 8 GB`).
 */
what: string, state: ResourceUpState, recorded_by: string, at: string, };

/**
 * Where a resource-up request stands.
 */
export type ResourceUpState = "requested" | "raised" | "restored" | "cancelled";

/**
 * The latest reading of one resource (load, disk, inode, mail queue) of a server.
 */
export type ResourceView = { 
/**
 * `load`, `disk`, `inode` or `mailq`.
 */
resource: string, 
/**
 * As shown in mails: `25.31`, `97%`, `18`.
 */
value: string, 
/**
 * The level this single sample meets (a raised level needs three in a row).
 */
sample_level: number | null, 
/**
 * The level of this resource's open incident (three samples in a row), if one is open.
 */
level: number | null, at: string, };

/**
 * A restore the engine started on request.
 */
export type RestoreRequested = { host: string, generation: number, 
/**
 * The directory on the server, or `/` for a restore in place.
 */
target: string, path: string | null, 
/**
 * Who asked on the customer's side.
 */
requested_by: string | null, by: string, at: string, };

/**
 * Also serializable, so a remote console passes it on as URL parameters unchanged.
 */
export type ReviewQuery = { server?: string, customer?: string, level?: number, check?: string, 
/**
 * First day (Japan time), `YYYY-MM-DD`, inclusive.
 */
from?: string, 
/**
 * Last day (Japan time), `YYYY-MM-DD`, inclusive.
 */
to?: string, operator?: string, text?: string, open?: boolean, limit?: number, 
/**
 * The next page: incidents with an id below this (the last id of the previous page).
 */
before?: number, };

/**
 * A reviewed incident with its server's customer (from the fleet, when there is one).
 */
export type ReviewRow = { customer: string | null, customer_name: string | null, id: number, host: string, check: string, level: number, trigger: string, opened_at: string, closed_at: string | null, 
/**
 * Seconds from opened to closed (None while open).
 */
duration_secs: number | null, story: Array<StoryStep>, };

/**
 * What a token may do.
 */
export type Role = "operator" | "viewer" | "admin";

/**
 * One reading.
 */
export type Sample = { host: string, 
/**
 * `load`, `disk`, `inode` or `mailq`.
 */
resource: string, at: string, value: number, };

/**
 * A server as a console edits it: the `[[server]]` keys a console may change.
 */
export type ServerEdit = { label: string, 
/**
 * The customer's id.
 */
customer: string, ip: string, fqdn: string, os?: string | null, 
/**
 * Service names as the file writes them (`http`, `smtp`, …).
 */
services: Array<string>, 
/**
 * Port overrides by service name, and `ssh` (`ports = { http = 18080, ssh = 2222 }`).
 */
ports: { [key in string]: number }, 
/**
 * The label of the gateway in front of it.
 */
gateway?: string | null, 
/**
 * The Plesk option (contract §9.3).
 */
plesk: boolean, };

export type ServerView = { label: string, 
/**
 * "server" or "gateway".
 */
role: string, customer: string, customer_name: string, plan: string, ip: string, fqdn: string, os: string, 
/**
 * Highest level among the open incidents of this host, if any.
 */
worst_level: number | null, 
/**
 * When the oldest open incident of this host opened.
 */
problem_since: string | null, 
/**
 * When the latest check result arrived.
 */
last_check_at: string | null, 
/**
 * The running maintenance pause, if any: no mail, notification or automatic recovery.
 */
maintenance: MaintenanceView | null, 
/**
 * The recovery running on this server, if any.
 */
recovery: RecoveryView | null, 
/**
 * Whether each operator action can work now, and if not why.
 */
actions: ActionsView, 
/**
 * Every open incident of this host has been taken by an operator (stop blinking).
 */
acknowledged: boolean, checks: Array<CheckView>, 
/**
 * Latest resource readings (servers with SSH access on a plan with resource monitoring).
 */
resources: Array<ResourceView>, 
/**
 * Why the last resource poll failed, if it did.
 */
resource_error: string | null, 
/**
 * Whether the server is backed up and why not (contract §7), judged on its latest poll;
 * `None` when the fleet keeps no backups (`[noc] backup` has no store).
 */
backup: BackupEligibilityView | null, 
/**
 * Security updates (contract §8); `None` for a gateway.
 */
updates?: UpdatesView | null, };

/**
 * One service: how it is checked and restarted.
 */
export type ServiceEntry = { 
/**
 * The fleet file's spelling and the check id (`http`, `pop`, …).
 */
id: string, 
/**
 * The name in triggers and mail subjects (`HTTP`, `Plesk Panel`).
 */
name: string, default_port: number, 
/**
 * `tcp`, `tls` (implicit TLS) or `udp`.
 */
transport: string, 
/**
 * Whether the engine can restart it (contract §4.4: a unit per OS family).
 */
restartable: boolean, 
/**
 * The unit restarted when the fleet file names none, per OS family (`redhat6`, `redhat`,
 * `debian`).
 */
units: Array<UnitEntry>, };

/**
 * The customer's consent to a billable spot recovery (contract §1: 20,000 yen and up).
 */
export type SpotConsent = { customer_person: string, amount_yen: number, };

/**
 * The prefilled 状況報告 the operator edits before sending.
 */
export type StatusReportDraft = { to: Array<string>, subject: string, body: string, };

/**
 * A status report mail queued in the outbox.
 */
export type StatusReportQueued = { incident: number, outbox_id: number, at: string, };

/**
 * One step of an incident's story.
 */
export type StoryStep = { at: string, 
/**
 * The event kind as logged (`incident_opened`, `mail_sent` …).
 */
kind: string, 
/**
 * Its Japanese label for people (`検知`, `メール送信` …); unknown kinds keep their name.
 */
label: string, detail: string, 
/**
 * Who: an operator's name or the engine's rule (None in logs older than the audit log).
 */
actor: string | null, };

export type ThresholdEntry = { level: number, 
/**
 * Per CPU when the resource's `per_cpu`.
 */
value: number, };

/**
 * The unit of a service on one OS family.
 */
export type UnitEntry = { os_family: string, unit: string, };

/**
 * The planned date of a server's update work.
 */
export type UpdatePlan = { host: string, planned_at: string, set_by: string, set_at: string, };

/**
 * One update job.
 */
export type UpdateRun = { id: number, host: string, 
/**
 * `os` or `cms`.
 */
scope: string, 
/**
 * The packages (or plugins, themes, `wordpress`) chosen, comma-separated; empty: all.
 */
packages: string, requested_by: string, started_at: string, finished_at?: string | null, 
/**
 * `running`, `ok`, `failed`, `interrupted`.
 */
state: string, exit_status?: number | null, reboot_needed: boolean, 
/**
 * Why it failed, or what it applied.
 */
detail: string, };

/**
 * What the last detection of a server said.
 */
export type UpdateScanRecord = { host: string, checked_at: string, 
/**
 * Why it gave no answer (the pending rows are then the previous detection's).
 */
error?: string | null, reboot_needed: boolean, 
/**
 * Updates pending in all, security or not.
 */
pending_total: number, 
/**
 * What else it said (`wp-cli not installed`, a site's error), one per line.
 */
notes: string, };

/**
 * A detection of a server's updates the engine started.
 */
export type UpdatesRefreshing = { host: string, by: string, at: string, };

/**
 * A server's security updates (contract §8): whether the NOC handles them, what the last
 * detection found (the rows themselves: `GET /api/v1/updates?host=`), the planned work and the
 * job going now. The tile's badge is `count` with `severity`; `eol_os` adds an "EOL" badge.
 */
export type UpdatesView = { 
/**
 * `included`, or why the NOC does not handle them: `not_included` (the plan), `no_access`
 * (no SSH access), `unsupported_os`.
 */
code: string, 
/**
 * The plan includes CMS updates and the fleet lists WordPress sites.
 */
cms: boolean, 
/**
 * Updates pending (security, and on an end-of-life system the unclassified ones).
 */
count: number, 
/**
 * Of them, marked security by the package manager's metadata.
 */
security: number, 
/**
 * The highest severity among them (`critical`, `important`, `moderate`, `low`, or empty).
 */
severity: string, 
/**
 * The OS release past its end of life (`CentOS 7`), and its last supported day.
 */
eol_os?: string | null, eol_date?: string | null, 
/**
 * The last detection says a reboot is needed to run what is installed: asked of an
 * operator, as part of the update service (never billed as spot recovery).
 */
reboot_needed: boolean, checked_at?: string | null, 
/**
 * Why the last detection gave no answer (the count is then the one before).
 */
error?: string | null, 
/**
 * What else it said (wp-cli missing, a site's error).
 */
notes: string, 
/**
 * When the oldest pending update was first seen.
 */
oldest_since?: string | null, 
/**
 * The planned date of the update work (set by an operator; by default the next business
 * day 10:00 JST when the notice went out).
 */
planned_at?: string | null, 
/**
 * The planned date passed with updates still pending.
 */
overdue: boolean, 
/**
 * A job on the server now: `detect` or `apply`.
 */
running?: string | null, };

/**
 * The chain's verification, as consoles show it on top of the audit log.
 */
export type Verification = { ok: boolean, entries: number, error: string | null, };
