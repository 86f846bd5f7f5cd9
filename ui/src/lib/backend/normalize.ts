//! Makes what arrives over the wire safe to draw: every field of the contract present with the
//! right type, whatever an older engine or a bug sent. Levels are accepted both as numbers (the
//! contract) and as `{number}` objects (the interim Tauri shell's shape).

import type {
  Acknowledgement,
  ActionResult,
  ActionType,
  AppInfo,
  AuditEntry,
  AuditPage,
  Call,
  CheckView,
  Consent,
  EngineEvent,
  Escalation,
  MaintenanceWindow,
  Prompt,
  Recovery,
  ConsoleMessage,
  Health,
  LevelNumber,
  Maintenance,
  Plan,
  ResourceView,
  ReportDraft,
  ReportSendResult,
  ReviewIncident,
  ServerView,
  StoryStep,
} from './types';

type Raw = Record<string, unknown>;

const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : v == null ? '' : String(v));
const strOrNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
const numOrNull = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v) ? v : null;

export function level(v: unknown): LevelNumber | null {
  const n = isObj(v) ? v.number : v;
  return n === 2 || n === 3 || n === 4 || n === 5 ? n : null;
}

const PLANS: readonly string[] = ['zero', '30', '60', '150', '200'];

function check(raw: unknown): CheckView {
  const c = isObj(raw) ? raw : {};
  return {
    check: str(c.check),
    ok: typeof c.ok === 'boolean' ? c.ok : null,
    hard: c.hard === true,
    failures: num(c.failures),
    detail: str(c.detail),
    ms: numOrNull(c.ms),
    last_at: strOrNull(c.last_at),
    incident: numOrNull(c.incident),
    level: level(c.level),
    since: strOrNull(c.since),
    acknowledged_by: strOrNull(c.acknowledged_by),
    suppressed: strOrNull(c.suppressed),
    prompt: prompt(c.prompt),
    unknown: strOrNull(c.unknown),
  };
}

export function prompt(raw: unknown): Prompt | null {
  if (!isObj(raw) || typeof raw.code !== 'string' || raw.code === '') return null;
  return { action: str(raw.action), code: raw.code, message: str(raw.message) };
}

/** A recovery (running or finished), or null when there is none. */
export function recovery(raw: unknown): Recovery | null {
  if (!isObj(raw)) return null;
  return {
    id: num(raw.id),
    host: str(raw.host),
    incident_id: numOrNull(raw.incident_id),
    action: str(raw.action) || 'reboot',
    requested_by: str(raw.requested_by),
    automatic: raw.automatic === true,
    billable_yen: numOrNull(raw.billable_yen),
    started_at: str(raw.started_at),
    finished_at: strOrNull(raw.finished_at),
    outcome: strOrNull(raw.outcome),
    detail: str(raw.detail),
  };
}

export function recoveries(raw: unknown): Recovery[] {
  return Array.isArray(raw) ? raw.map(recovery).filter((r): r is Recovery => r !== null) : [];
}

function resource(raw: unknown): ResourceView {
  const r = isObj(raw) ? raw : {};
  return {
    resource: str(r.resource),
    value: str(r.value),
    sample_level: numOrNull(r.sample_level),
    level: numOrNull(r.level),
    at: strOrNull(r.at),
  };
}

function maintenance(raw: unknown): Maintenance | null {
  if (!isObj(raw)) return null;
  return { id: numOrNull(raw.id), until: strOrNull(raw.until), reason: str(raw.reason), by: str(raw.by) };
}

export function server(raw: unknown): ServerView {
  const s = isObj(raw) ? raw : {};
  const plan = str(s.plan);
  return {
    label: str(s.label),
    role: s.role === 'gateway' ? 'gateway' : 'server',
    customer: str(s.customer),
    customer_name: str(s.customer_name),
    plan: (PLANS.includes(plan) ? plan : '') as Plan,
    ip: str(s.ip),
    fqdn: str(s.fqdn),
    os: str(s.os),
    worst_level: level(s.worst_level),
    problem_since: strOrNull(s.problem_since),
    last_check_at: strOrNull(s.last_check_at),
    maintenance: maintenance(s.maintenance),
    recovery: recovery(s.recovery),
    acknowledged: s.acknowledged === true,
    checks: Array.isArray(s.checks) ? s.checks.map(check) : [],
    resources: Array.isArray(s.resources) ? s.resources.map(resource) : [],
    resource_error: strOrNull(s.resource_error),
  };
}

export function health(raw: unknown): Health {
  const h = isObj(raw) ? raw : {};
  return {
    started_at: str(h.started_at),
    last_cycle_at: strOrNull(h.last_cycle_at),
    outbox_backlog: num(h.outbox_backlog),
    checks: num(h.checks),
    interval_secs: numOrNull(h.interval_secs) ?? undefined,
    alarms: Array.isArray(h.alarms)
      ? h.alarms.filter(isObj).map((a) => ({
          code: str(a.code),
          since: str(a.since),
          detail: str(a.detail),
          count: num(a.count),
          total: num(a.total),
        }))
      : [],
  };
}

/** One console message, or null for a kind this console does not know (ignored). */
export function message(raw: unknown): ConsoleMessage | null {
  if (!isObj(raw)) return null;
  switch (raw.type) {
    case 'snapshot':
    case 'delta':
      return {
        type: raw.type,
        rev: num(raw.rev),
        servers: Array.isArray(raw.servers) ? raw.servers.map(server) : [],
        health: health(raw.health),
      };
    case 'event':
      return isObj(raw.event) && typeof raw.event.event === 'string'
        ? { type: 'event', event: event(raw.event) }
        : null;
    case 'open_incident':
      return { type: 'open_incident', id: num(raw.id) };
    case 'connection':
      return {
        type: 'connection',
        connected: raw.connected === true,
        since: str(raw.since),
        message: str(raw.message),
      };
    default:
      // The interim engines sent bare EngineEvents (`{"event": …}`) next to the snapshot.
      if (raw.type === undefined && typeof raw.event === 'string') {
        return { type: 'event', event: event(raw) };
      }
      return null;
  }
}

const MODES: readonly string[] = ['demo', 'fleet', 'remote', 'web', 'fake', 'review'];

/** The shell's `app_info` (older shells leave fields out). */
export function appInfo(raw: unknown): AppInfo {
  const i = isObj(raw) ? raw : {};
  const mode = str(i.mode);
  return {
    mode: (MODES.includes(mode) ? mode : 'fleet') as AppInfo['mode'],
    source: str(i.source),
    db: str(i.db),
    version: str(i.version),
    role: i.role === 'viewer' ? 'viewer' : 'operator',
    name: str(i.name),
    view: i.view === 'wall' ? 'wall' : i.view === 'review' || mode === 'review' ? 'review' : 'operator',
  };
}

export function acknowledgement(raw: unknown): Acknowledgement {
  const a = isObj(raw) ? raw : {};
  return { incident: num(a.incident), host: str(a.host), check: str(a.check), by: str(a.by), at: str(a.at) };
}

function step(raw: unknown): StoryStep {
  const e = isObj(raw) ? raw : {};
  const kind = str(e.kind);
  return { at: str(e.at), kind, label: str(e.label) || kind, detail: str(e.detail), actor: strOrNull(e.actor) };
}

export function reviewIncident(raw: unknown): ReviewIncident {
  const r = isObj(raw) ? raw : {};
  return {
    id: num(r.id),
    host: str(r.host),
    customer: strOrNull(r.customer),
    customer_name: strOrNull(r.customer_name),
    check: str(r.check),
    level: level(r.level) ?? 4,
    trigger: str(r.trigger),
    opened_at: str(r.opened_at),
    closed_at: strOrNull(r.closed_at),
    duration_secs: numOrNull(r.duration_secs),
    story: Array.isArray(r.story) ? r.story.map(step) : [],
  };
}

export function reviewList(raw: unknown): ReviewIncident[] {
  return Array.isArray(raw) ? raw.map(reviewIncident) : [];
}

export function report(raw: unknown): ReportDraft {
  const r = isObj(raw) ? raw : {};
  const state = r.state === 'held' || r.state === 'sent' ? r.state : 'draft';
  return {
    id: num(r.id),
    customer: str(r.customer),
    month: str(r.month),
    state,
    created_at: str(r.created_at),
    sent_at: strOrNull(r.sent_at),
    sent_by: strOrNull(r.sent_by),
    held_by: strOrNull(r.held_by),
    outbox_id: numOrNull(r.outbox_id),
    customer_name: strOrNull(r.customer_name),
    overdue: r.overdue === true,
  };
}

export function reportList(raw: unknown): ReportDraft[] {
  return Array.isArray(raw) ? raw.map(report) : [];
}

/** What send-all answers: `[{report, outbox}|{report, error}]` (HTTP); also the desktop shell's
 * serde tuples `[report, {"Ok": outbox}|{"Err": message}]`. */
export function sendResults(raw: unknown): ReportSendResult[] {
  if (!Array.isArray(raw)) return [];
  const errText = (e: unknown) => (e === undefined || e === null ? null : typeof e === 'string' ? e : JSON.stringify(e));
  return raw.map((x) => {
    if (Array.isArray(x)) {
      const r = isObj(x[1]) ? x[1] : {};
      const err = 'Err' in r ? errText(r.Err) ?? 'error' : null;
      return { report: num(x[0]), outbox: numOrNull(r.Ok), error: err };
    }
    const o = isObj(x) ? x : {};
    return { report: num(o.report), outbox: numOrNull(o.outbox), error: errText(o.error) };
  });
}

/** An engine event: the new kinds get their nested shapes made safe; the rest pass as sent. */
export function event(raw: Raw): EngineEvent {
  switch (raw.event) {
    case 'call_logged':
      return { event: 'call_logged', incident: num(raw.incident), host: str(raw.host), call: call(raw.call) };
    case 'maintenance_changed':
      return { event: 'maintenance_changed', maintenance: maintenanceWindow(raw.maintenance) };
    case 'recovery_prompt':
      return { event: 'recovery_prompt', incident: num(raw.incident), host: str(raw.host), prompt: prompt(raw.prompt) };
    case 'recovery_started':
      return {
        event: 'recovery_started', id: num(raw.id), host: str(raw.host), incident_id: numOrNull(raw.incident_id),
        action: str(raw.action), by: str(raw.by), automatic: raw.automatic === true, at: str(raw.at),
      };
    case 'recovery_finished':
      return {
        event: 'recovery_finished', id: num(raw.id), host: str(raw.host), incident_id: numOrNull(raw.incident_id),
        action: str(raw.action), outcome: str(raw.outcome), detail: str(raw.detail), at: str(raw.at),
      };
    default:
      return raw as unknown as EngineEvent;
  }
}

// ------------------------------------------------------------------------------ console actions

export function call(raw: unknown): Call {
  const c = isObj(raw) ? raw : {};
  return {
    id: num(c.id),
    incident_id: num(c.incident_id),
    number: str(c.number),
    started_at: str(c.started_at),
    rings: num(c.rings, 10),
    outcome: str(c.outcome) || 'no_answer',
    answered_by: strOrNull(c.answered_by),
    notes: str(c.notes),
    operator: str(c.operator),
  };
}

export function consent(raw: unknown): Consent {
  const c = isObj(raw) ? raw : {};
  return {
    id: num(c.id),
    incident_id: num(c.incident_id),
    kind: str(c.kind) || 'investigation',
    amount_yen: num(c.amount_yen),
    customer_person: str(c.customer_person),
    note: str(c.note),
    operator: str(c.operator),
    at: str(c.at),
  };
}

export function maintenanceWindow(raw: unknown): MaintenanceWindow {
  const m = isObj(raw) ? raw : {};
  const scope = isObj(m.scope) ? m.scope : {};
  return {
    id: num(m.id),
    scope: { kind: scope.kind === 'customer' ? 'customer' : 'server', id: str(scope.id) },
    starts_at: str(m.starts_at),
    ends_at: str(m.ends_at),
    reason: str(m.reason),
    who: str(m.who),
    created_at: str(m.created_at),
    active: m.active === true,
  };
}

export function maintenanceList(raw: unknown): MaintenanceWindow[] {
  return Array.isArray(raw) ? raw.map(maintenanceWindow) : [];
}

const strList = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : []);

export function escalation(raw: unknown): Escalation {
  const e = isObj(raw) ? raw : {};
  const i = isObj(e.incident) ? e.incident : {};
  const c = isObj(e.customer) ? e.customer : {};
  const r = isObj(e.status_report) ? e.status_report : {};
  const plan = str(c.plan);
  return {
    incident: {
      id: num(i.id),
      host: str(i.host),
      check: str(i.check),
      level: level(i.level) ?? 4,
      trigger: str(i.trigger),
      opened_at: str(i.opened_at),
      closed_at: strOrNull(i.closed_at),
    },
    customer: {
      id: str(c.id),
      name: str(c.name),
      plan: (PLANS.includes(plan) ? plan : '') as Plan,
      phones: strList(c.phones),
      notify: strList(c.notify),
    },
    calls: Array.isArray(e.calls) ? e.calls.map(call) : [],
    consents: Array.isArray(e.consents) ? e.consents.map(consent) : [],
    consented_yen: num(e.consented_yen),
    answered: e.answered === true,
    exhausted: e.exhausted === true,
    status_report: { to: strList(r.to), subject: str(r.subject), body: str(r.body) },
    status_reports_sent: num(e.status_reports_sent),
  };
}

function auditEntry(raw: unknown): AuditEntry {
  const a = isObj(raw) ? raw : {};
  return {
    id: num(a.id),
    at: str(a.at),
    kind: str(a.kind),
    actor: str(a.actor),
    incident_id: numOrNull(a.incident_id),
    host: str(a.host),
    check: str(a.check),
    detail: str(a.detail),
    hash: str(a.hash),
  };
}

export function auditPage(raw: unknown): AuditPage {
  const p = isObj(raw) ? raw : {};
  const v = isObj(p.verify) ? p.verify : {};
  const entries = Array.isArray(p.entries) ? p.entries.map(auditEntry) : Array.isArray(raw) ? raw.map(auditEntry) : [];
  return {
    entries,
    verify: { ok: v.ok === true, entries: num(v.entries, entries.length), error: strOrNull(v.error) ?? (isObj(p.verify) ? null : 'no verification in the answer') },
  };
}

const ACTION_TYPES: readonly string[] = [
  'acknowledge', 'note', 'recover', 'reboot', 'restart', 'log_call', 'consent', 'status_report', 'pause', 'end_pause', 'extend_pause',
];

/** What `act` answered, flat (`{type, …fields}`); a nested record (`{type, recovery: {…}}`) is
 * accepted too. `asked`: the type of the request, when the answer does not say. */
export function actionResult(raw: unknown, asked: ActionType): ActionResult {
  const r = isObj(raw) ? raw : {};
  const type = (typeof r.type === 'string' && ACTION_TYPES.includes(r.type) ? r.type : asked) as ActionType;
  const inner = (key: string): Raw => (isObj(r[key]) ? (r[key] as Raw) : r);
  switch (type) {
    case 'acknowledge':
      return { type, ...acknowledgement(inner('acknowledgement')) };
    case 'note': {
      const n = inner('note');
      return { type, incident: num(n.incident), by: str(n.by), text: str(n.text), at: str(n.at) };
    }
    case 'recover':
    case 'reboot':
    case 'restart':
      return { type, ...(recovery(inner('recovery')) ?? (recovery({}) as Recovery)) };
    case 'log_call':
      return { type, ...call(inner('call')) };
    case 'consent':
      return { type, ...consent(inner('consent')) };
    case 'status_report': {
      const q = inner('status_report');
      return { type, incident: num(q.incident), outbox_id: numOrNull(q.outbox_id), at: str(q.at) };
    }
    case 'pause':
    case 'end_pause':
    case 'extend_pause':
      return { type, ...maintenanceWindow(inner('maintenance')) };
  }
}
