//! Makes what arrives over the wire safe to draw: every field of the contract present with the
//! right type, whatever an older engine or a bug sent. Levels are accepted both as numbers (the
//! contract) and as `{number}` objects (the interim Tauri shell's shape).

import type {
  Acknowledgement,
  AppInfo,
  CheckView,
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
  };
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
  return { until: strOrNull(raw.until), reason: str(raw.reason), by: str(raw.by) };
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
        ? { type: 'event', event: raw.event as never }
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
        return { type: 'event', event: raw as never };
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
  return { at: str(e.at), kind, label: str(e.label) || kind, detail: str(e.detail) };
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
