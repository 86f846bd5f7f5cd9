//! An in-memory fleet for `npm run dev` without an engine, for the perf page (`?fake=2000`) and
//! for the unit tests. Deterministic for a seed; speaks exactly the console contract.
//!
//! `?fake=N` picks it with N servers; `&drop=S` loses the "connection" S seconds after the start
//! (to look at the disconnected state), `&quiet=1` stops the simulated changes.

import { BackendError } from './types';
import { FakeAudit, actorOf, fakePrompt, inBusinessHours as inHours, policies, statusReport } from './fake-actions';
import { kindOf, recoveryFor, recoveryName, serviceOf, spotExpected } from '../model/actions';
import { investigationCapYen, restartable, spotMinYen } from '../model/catalogue';
import catalogueData from './generated/catalogue.json';
import { escalationState } from '../model/escalation';
import { jstDateTime } from '../model/duration';
import { downloadText } from './download';
import { jstDayStart, operatorsOf, STEP_JA } from '../model/review';
import { addMonths, autoSendAt, defaultMonth, isMonth, isOverdue, monthLabel } from '../model/reports';
import type {
  Acknowledgement,
  Catalogue,
  Action,
  ActionResult,
  AppInfo,
  AuditPage,
  Backend,
  Call,
  CheckView,
  Consent,
  Escalation,
  MaintenanceWindow,
  PauseScope,
  Recovery,
  SpotConsent,
  ConsoleMessage,
  Customer,
  Health,
  Incident,
  RecoveryView,
  ReportDraft,
  ReportSendResult,
  ResourceView,
  ReviewFilter,
  ReviewIncident,
  Sample,
  ServerView,
  StoryStep,
} from './types';

/** A small seeded PRNG (mulberry32): same seed, same fleet. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fake's own names (the engine sends plans and levels as its strings and numbers). */
type Plan = 'zero' | '30' | '60' | '150' | '200' | '';
type LevelNumber = number;

const PLANS: Plan[] = ['zero', '30', '60', '150', '200'];
const SERVICES = ['http', 'https', 'smtp', 'pop3', 'imap', 'ftp', 'mysql', 'postgresql', 'dns'];
const COMPANIES = [
  'サンプル株式会社', '有限会社みどり商店', '株式会社ひかり工業', 'さくら法律事務所', '東和トラベル株式会社',
  '株式会社オオゾラ', '北斗システムズ', '合同会社しおさい', '株式会社イロハ出版', '山田歯科クリニック',
  'Example Holdings', '株式会社つばめ物流',
];
const OSES = ['CentOS 7', 'AlmaLinux 9', 'Rocky Linux 8', 'Ubuntu 22.04', 'Debian 12', 'CentOS 6'];

export interface FakeFleet {
  servers: ServerView[];
  customers: Customer[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** What a plan includes: the engine's catalogue's (generated), never a copy. */
function entitlements(plan: Plan): Customer['entitlements'] {
  const e = (catalogueData as Catalogue).plans.find((p) => p.id === plan)?.entitlements;
  if (!e) throw new Error(`the catalogue has no plan ${plan}`);
  return e;
}

function okCheck(check: string, now: number, r: () => number): CheckView {
  return {
    check,
    ok: true,
    hard: false,
    failures: 0,
    detail: check === 'ping' ? `${(r() * 3 + 0.2).toFixed(1)} ms` : check === 'ssh' ? 'SSH-2.0-OpenSSH_8.0' : '220 ready',
    // ping answers in fractions of a millisecond on a LAN (the engine sends floats).
    ms: check === 'ping' ? r() * 3 + 0.05 : Math.round(r() * 40) + 1,
    last_at: iso(now - Math.round(r() * 55_000)),
    incident: null,
    level: null,
    since: null,
    acknowledged_by: null,
    suppressed: null,
    prompt: null,
    unknown: null,
  };
}

function okResources(now: number, r: () => number): ResourceView[] {
  return [
    { resource: 'load', value: (r() * 2).toFixed(2), sample_level: null, level: null, at: iso(now - 20_000) },
    { resource: 'disk', value: `${Math.round(20 + r() * 55)}%`, sample_level: null, level: null, at: iso(now - 20_000) },
    { resource: 'inode', value: `${Math.round(2 + r() * 30)}%`, sample_level: null, level: null, at: iso(now - 20_000) },
    { resource: 'mailq', value: String(Math.round(r() * 20)), sample_level: null, level: null, at: iso(now - 20_000) },
  ];
}

/** The worst open level and since when, recomputed from checks and resources. */
export function recompute(s: ServerView): ServerView {
  let worst: LevelNumber | null = null;
  let since: string | null = null;
  for (const c of s.checks) {
    if (c.incident !== null && c.level !== null) {
      if (worst === null || c.level > worst) worst = c.level;
      if (c.since && (since === null || c.since < since)) since = c.since;
    }
  }
  for (const r of s.resources) {
    if (r.level !== null && r.level >= 2) {
      const l = r.level as LevelNumber;
      if (worst === null || l > worst) worst = l;
    }
  }
  // Taken when every open incident is: resource levels without an id cannot be taken here.
  const open = s.checks.filter((c) => c.incident !== null);
  const resourceOpen = s.resources.some((r) => r.level !== null && r.level >= 2);
  const acknowledged = worst !== null && open.length > 0 && !resourceOpen && open.every((c) => c.acknowledged_by !== null);
  return { ...s, worst_level: worst, acknowledged, problem_since: worst === null ? null : (since ?? s.problem_since) };
}

let nextIncident = 1000;

/** Opens (or closes) an incident on one check of a server: returns the new server. The prompt
 * is the engine's as of `now` (the one automatic attempt, where the plan allows one, counted as
 * made and failed). */
export function setProblem(s: ServerView, check: string, level: LevelNumber | null, at: number, now = at): ServerView {
  const checks = s.checks.map((c) => {
    if (c.check === check) {
      if (level === null) {
        return { ...c, ok: true, hard: false, failures: 0, incident: null, level: null, since: null, acknowledged_by: null, detail: 'OK', last_at: iso(at), prompt: null };
      }
      const since = c.since ?? iso(at - 180_000);
      return {
        ...c,
        prompt: fakePrompt(s.plan, check, Date.parse(since), now, { paused: !!s.maintenance, tried: true }),
        ok: false,
        hard: true,
        failures: 3,
        acknowledged_by: c.incident === null ? null : c.acknowledged_by,
        incident: c.incident ?? nextIncident++,
        level,
        since,
        detail: check === 'ping' ? 'no reply within 10 s' : `connection refused by ${s.ip}:${check === 'http' ? 80 : 443}`,
        last_at: iso(at),
      };
    }
    // A host that does not answer ping: its services are suppressed, not incidents.
    if (check === 'ping' && c.check !== 'ping') {
      return level === null
        ? { ...c, ok: true, failures: 0, suppressed: null, detail: 'OK', last_at: iso(at) }
        : { ...c, ok: false, failures: 3, hard: true, suppressed: 'host_unreachable', detail: 'timed out', last_at: iso(at) };
    }
    return c;
  });
  return recompute({ ...s, checks, last_check_at: iso(at) });
}

/** A fleet of `n` servers (plus a few gateways), about 5 % with open problems. */
export function makeFleet(n: number, seed = 1, now = Date.now()): FakeFleet {
  const r = rng(seed);
  const nCustomers = Math.max(1, Math.ceil(n / 8));
  const customers: Customer[] = [];
  for (let i = 0; i < nCustomers; i++) {
    const plan = PLANS[i % PLANS.length];
    customers.push({
      id: `c${1001 + i}`,
      name: i < COMPANIES.length ? COMPANIES[i] : `${COMPANIES[i % COMPANIES.length]} ${Math.floor(i / COMPANIES.length) + 1}`,
      plan,
      entitlements: entitlements(plan),
      notify: [`ops${i}@example.jp`, ...(i % 3 === 0 ? [`admin${i}@example.com`] : [])],
      phones: plan === 'zero' ? [] : [`03-0000-${pad(i % 10000, 4)}`, ...(i % 2 ? [`090-0000-${pad(i % 10000, 4)}`] : [])],
    });
  }
  const servers: ServerView[] = [];
  const gateways = Math.max(1, Math.round(n / 200));
  for (let g = 0; g < gateways; g++) {
    servers.push({
      label: `gw-${String.fromCharCode(97 + (g % 26))}${g >= 26 ? g : ''}`,
      role: 'gateway', customer: '', customer_name: '', plan: '',
      ip: `127.77.${g}.1`, fqdn: '', os: '',
      worst_level: null, problem_since: null, last_check_at: iso(now - 10_000), maintenance: null, recovery: null, acknowledged: false,
      checks: [okCheck('ping', now, r)], resources: [], resource_error: null,
    });
  }
  for (let i = 0; i < n - gateways; i++) {
    const cust = customers[Math.floor(r() * customers.length)];
    const kind = ['web', 'mail', 'db', 'app', 'vps'][Math.floor(r() * 5)];
    const label = `${kind}${pad(i + 1, n > 999 ? 4 : 3)}`;
    const services = cust.plan === 'zero' ? [] : SERVICES.filter(() => r() < 0.35);
    const checks = ['ping', 'ssh', ...services].map((c) => okCheck(c, now, r));
    if (cust.plan !== 'zero' && r() < 0.1) checks.push(okCheck('custom:app', now, r));
    let s: ServerView = {
      label,
      role: 'server',
      customer: cust.id,
      customer_name: cust.name,
      plan: cust.plan,
      ip: `127.77.${Math.floor(i / 250) + 1}.${(i % 250) + 2}`,
      fqdn: `${label}.${cust.id}.example.jp`,
      os: OSES[Math.floor(r() * OSES.length)],
      worst_level: null, problem_since: null,
      last_check_at: iso(now - Math.round(r() * 50_000)),
      maintenance: null,
      recovery: null,
      acknowledged: false,
      checks,
      resources: cust.entitlements.resource_monitoring ? okResources(now, r) : [],
      resource_error: null,
    };
    // The first servers show one of each state, so even a small fleet shows them all.
    const showcase = n >= 12 ? i : -1;
    let roll = r();
    if (showcase >= 0 && showcase < 8) roll = 2; // handled below
    if (showcase === 0) {
      s = setProblem(s, 'ping', 5, now - 47 * 60_000, now);
    } else if (showcase === 1) {
      // Lv.4, already taken by an operator (the "対応中" mark).
      const c = s.checks.length > 2 ? s.checks[2].check : 'ssh';
      s = setProblem(s, c, 4, now - 12 * 60_000, now);
      s = recompute({ ...s, checks: s.checks.map((x) => (x.check === c ? { ...x, acknowledged_by: 'suzuki' } : x)) });
    } else if (showcase === 2 || showcase === 3) {
      const lvl = (showcase === 2 ? 3 : 2) as LevelNumber;
      s = recompute({
        ...s,
        problem_since: iso(now - (showcase === 2 ? 95 : 7) * 60_000),
        resources: (s.resources.length ? s.resources : okResources(now, r)).map((x) =>
          x.resource === 'disk' ? { ...x, value: lvl === 2 ? '84%' : '92%', sample_level: lvl, level: lvl } : x),
      });
    } else if (showcase === 4) {
      // Paused for work, and a service down meanwhile: the checks still run and record (the
      // incident is open, its alert held), the tile shows maintenance and the live state.
      s = { ...s, maintenance: { id: 0, until: iso(now + 5_400_000), reason: 'OS アップデート作業', by: 'yamada' } };
      s = setProblem(s, s.checks.length > 2 ? s.checks[2].check : 'ssh', 4, now - 9 * 60_000, now);
    } else if (showcase === 5) {
      s = { ...s, last_check_at: null, checks: s.checks.map((c) => ({ ...c, ok: null, detail: '', ms: 0, last_at: null })) };
    } else if (showcase === 6) {
      s = { ...s, checks: s.checks.map((c) => (c.check === 'ssh' ? { ...c, ok: false, failures: 1, detail: 'connection timed out' } : c)) };
    } else if (showcase === 7) {
      // A service down with the engine's automatic restart running (where the plan includes
      // it), else a server down with an operator's (billed) reboot running.
      const svc = s.checks.find((c) => restartable(c.check))?.check;
      if (!svc || policies(s.plan).service === 'none') {
        if (policies(s.plan).server !== 'none') {
          s = setProblem(s, 'ping', 5, now - 40 * 60_000, now);
          const c = s.checks.find((x) => x.check === 'ping')!;
          const spot = policies(s.plan).server === 'spot';
          s = {
            ...s,
            checks: s.checks.map((x) => (x === c ? { ...x, prompt: null, acknowledged_by: 'suzuki' } : x)),
            recovery: keepWhole({
              id: 1, host: s.label, incident_id: c.incident, action: 'reboot', requested_by: 'suzuki', automatic: false,
              billable_yen: spot ? 20_000 : null, started_at: iso(now - 30_000), finished_at: null, outcome: null, detail: '',
            }),
          };
          s = recompute(s);
        }
      } else {
        s = setProblem(s, svc, 4, now - 60_000, now);
        const c = s.checks.find((x) => x.check === svc)!;
        s = {
          ...s,
          checks: s.checks.map((x) => (x === c ? { ...x, prompt: null } : x)),
          recovery: keepWhole({
            id: 1, host: s.label, incident_id: c.incident, action: `restart:${svc}`, requested_by: 'engine', automatic: true,
            billable_yen: null, started_at: iso(now - 20_000), finished_at: null, outcome: null, detail: '',
          }),
        };
      }
    } else if (roll < 0.01) {
      s = setProblem(s, 'ping', 5, now - Math.round(r() * 3_600_000));
    } else if (roll < 0.03 && s.checks.length > 2) {
      s = setProblem(s, s.checks[2 + Math.floor(r() * (s.checks.length - 2))].check, 4, now - Math.round(r() * 1_800_000));
    } else if (roll < 0.035) {
      s = setProblem(s, 'ssh', 4, now - Math.round(r() * 600_000));
    } else if (roll < 0.05 && s.resources.length) {
      const lvl = (2 + Math.floor(r() * 2)) as LevelNumber;
      s = recompute({
        ...s,
        problem_since: iso(now - Math.round(r() * 7_200_000)),
        resources: s.resources.map((x) =>
          x.resource === 'disk' ? { ...x, value: lvl === 2 ? '84%' : '92%', sample_level: lvl, level: lvl } : x),
      });
    } else if (roll < 0.065) {
      s = { ...s, maintenance: { id: 0, until: iso(now + 3_600_000), reason: 'OS アップデート作業', by: 'yamada' } };
    } else if (roll < 0.075) {
      s = { ...s, last_check_at: null, checks: s.checks.map((c) => ({ ...c, ok: null, detail: '', ms: 0, last_at: null })) };
    }
    servers.push(s);
  }
  return { servers, customers };
}

export interface FakeOptions {
  /** Seconds after which the connection is lost (and stays lost). */
  dropAfter?: number;
  /** No simulated changes. */
  quiet?: boolean;
  role?: 'operator' | 'viewer';
  view?: 'operator' | 'wall' | 'review';
  /** The operator's name (who acknowledges). */
  name?: string;
  /** Pretend to be the desktop in review mode (`--review FILE`): this file name. */
  reviewFile?: string;
  /** How long an operator's recovery runs before its result (ms; default 4,000). */
  recoveryMs?: number;
}

export class FakeBackend implements Backend {
  readonly kind = 'fake' as const;
  readonly fleet: FakeFleet;
  private byLabel = new Map<string, number>();
  private rev = 1;
  private readonly r: () => number;
  private readonly startedAt = Date.now();
  private listeners = new Set<(m: ConsoleMessage) => void>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private connected = true;
  /** Closed incidents, newest first (generated history, then what closed while running). */
  private log: ReviewIncident[];
  /** Steps added to open incidents (acknowledgements). */
  private extra = new Map<number, StoryStep[]>();
  private reviewFile: string | undefined;
  readonly canOpenReview: boolean;
  /** Monthly report drafts (see `makeReports`), without `overdue` (computed when listed). */
  readonly reportRows: ReportDraft[];
  /** What `saveFile` saved last (tests look). */
  lastSaved: { name: string; text: string } | null = null;

  /** Every recovery, oldest first (the running ones too). */
  readonly recoveryLog: Recovery[] = [];
  private nextRecovery = 1;
  /** Logged calls and recorded consents per incident, in order. */
  readonly calls = new Map<number, Call[]>();
  readonly consents = new Map<number, Consent[]>();
  private reportsSent = new Map<number, number>();
  /** Maintenance windows, in creation order. */
  readonly windows: MaintenanceWindow[] = [];
  private nextWindow = 1;
  private nextRecord = 1;
  /** The hash-chained audit log. */
  readonly audit_ = new FakeAudit();
  /** Automatic recoveries started by `tick`, finished by a later tick: host → {id, at}. */
  private autoDue = new Map<string, { id: number; at: number }>();

  constructor(n: number, private readonly opts: FakeOptions = {}, seed = 1) {
    const now = Date.now();
    this.fleet = makeFleet(n, seed, now);
    this.fleet.servers.forEach((s, i) => this.byLabel.set(s.label, i));
    this.r = rng(seed + 7);
    this.log = makeHistory(this.fleet, now, seed);
    this.reviewFile = opts.reviewFile;
    this.canOpenReview = opts.reviewFile !== undefined;
    this.reportRows = makeReports(this.fleet, now);
    this.seedActions(now);
  }

  private get me(): string {
    return this.opts.name ?? 'yamada';
  }

  /** Windows for the servers the fleet shows paused, a few more (future, ended), the history's
   * recoveries, running ones, and the audit log of all of it. */
  private seedActions(now: number) {
    const history: { at: string; kind: string; actor: string; incident_id: number | null; host: string; check: string; detail: string }[] = [];
    for (const inc of this.log) {
      for (const st of inc.story) {
        if (st.kind === 'check_soft' || st.kind === 'check_ok') continue;
        // Like the engine: mail events know only their incident (the outbox has no host).
        const mail = st.kind.startsWith('mail_');
        history.push({
          at: st.at, kind: st.kind, actor: st.actor ?? actorOf(st.detail), incident_id: inc.id,
          host: mail ? '' : inc.host, check: mail ? '' : inc.check, detail: st.detail,
        });
      }
      const started = inc.story.find((x) => x.kind === 'recovery_started');
      const done = inc.story.find((x) => x.kind === 'recovery_succeeded');
      if (started) {
        this.recoveryLog.push({
          id: this.nextRecovery++, host: inc.host, incident_id: inc.id, action: recoveryFor(inc.check) ?? 'reboot',
          requested_by: actorOf(started.detail), automatic: false, billable_yen: null, started_at: started.at,
          finished_at: done?.at ?? started.at, outcome: done ? 'recovered' : 'failed', detail: done?.detail.replace(/^by \S+: /, '') ?? '',
        });
      }
    }
    this.recoveryLog.sort((a, b) => a.started_at.localeCompare(b.started_at));
    const servers = this.fleet.servers;
    servers.forEach((s, i) => {
      if (s.maintenance) {
        const w: MaintenanceWindow = {
          id: this.nextWindow++, scope: { kind: 'server', id: s.label }, starts_at: iso(now - 30 * 60_000),
          ends_at: s.maintenance.until ?? iso(now + 3_600_000), reason: s.maintenance.reason, who: s.maintenance.by,
          created_at: iso(now - 40 * 60_000), active: true, ended_at: null, ended_by: null,
        };
        this.windows.push(w);
        servers[i] = { ...s, maintenance: { ...s.maintenance, id: w.id } };
        history.push({ at: w.created_at, kind: 'maintenance_added', actor: w.who, incident_id: null, host: s.label, check: '', detail: `${jstDateTime(w.starts_at)} – ${jstDateTime(w.ends_at)}: ${w.reason}` });
      }
      // The one automatic attempt behind an `already_tried` prompt, failed.
      for (const c of s.checks) {
        if (c.incident === null || c.prompt?.code !== 'already_tried' || !c.since) continue;
        const at = Date.parse(c.since) + (c.check === 'ping' || c.check === 'ssh' ? 15 * 60_000 : 10_000);
        const r: Recovery = {
          id: this.nextRecovery++, host: s.label, incident_id: c.incident, action: c.prompt.action, requested_by: 'engine', automatic: true,
          billable_yen: null, started_at: iso(Math.min(at, now - 60_000)), finished_at: iso(Math.min(at + 40_000, now - 20_000)), outcome: 'failed',
          detail: c.prompt.action === 'reboot' ? 'rebooted; ping still fails' : `systemctl restart ${serviceOf(c.prompt.action)}: the re-check still fails`,
        };
        this.recoveryLog.push(r);
        history.push({ at: r.started_at, kind: 'recovery_started', actor: 'engine', incident_id: c.incident, host: s.label, check: c.check, detail: `automatic: ${recoveryName(r.action, 'ja')}` });
        history.push({ at: r.finished_at!, kind: 'recovery_finished', actor: 'engine', incident_id: c.incident, host: s.label, check: c.check, detail: `failed: ${r.detail}` });
        history.push({ at: r.finished_at!, kind: 'recovery_needs_operator', actor: 'engine', incident_id: c.incident, host: s.label, check: c.check, detail: 'already_tried' });
      }
      if (s.recovery) {
        const r = { ...whole(s.recovery), id: this.nextRecovery++ };
        servers[i] = { ...servers[i], recovery: r };
        this.recoveryLog.push(r);
        // Ends with a later tick (never in quiet mode: a screenshot keeps it running).
        this.autoDue.set(s.label, { id: r.id, at: now + 15_000 });
        history.push({ at: r.started_at, kind: 'recovery_started', actor: r.requested_by, incident_id: r.incident_id, host: s.label, check: serviceOf(r.action), detail: `${r.automatic ? 'automatic: ' : ''}${recoveryName(r.action, 'ja')}` });
        if (r.billable_yen) history.push({ at: r.started_at, kind: 'spot_billed', actor: r.requested_by, incident_id: r.incident_id, host: s.label, check: '', detail: `${r.billable_yen} yen` });
      }
    });
    const cust = this.fleet.customers.find((c) => c.plan !== 'zero');
    if (cust) {
      const day = 86_400_000;
      const future: MaintenanceWindow = {
        id: this.nextWindow++, scope: { kind: 'customer', id: cust.id }, starts_at: iso(now + day), ends_at: iso(now + day + 2 * 3_600_000),
        reason: 'データセンター移設に伴う計画停止', who: 'suzuki', created_at: iso(now - 2 * day), active: false,
        ended_at: null, ended_by: null,
      };
      const ended: MaintenanceWindow = {
        id: this.nextWindow++, scope: { kind: 'customer', id: cust.id }, starts_at: iso(now - 3 * day), ends_at: iso(now - 3 * day + 3_600_000),
        reason: 'ミドルウェア更新', who: 'tanaka', created_at: iso(now - 4 * day), active: false, ended_at: null, ended_by: null,
      };
      this.windows.push(future, ended);
      history.push({ at: future.created_at, kind: 'maintenance_added', actor: future.who, incident_id: null, host: '', check: '', detail: `${cust.id}: ${future.reason}` });
      history.push({ at: ended.created_at, kind: 'maintenance_added', actor: ended.who, incident_id: null, host: '', check: '', detail: `${cust.id}: ${ended.reason}` });
      history.push({ at: ended.ends_at, kind: 'maintenance_ended', actor: 'engine', incident_id: null, host: '', check: '', detail: `${cust.id}: ${ended.reason}` });
    }
    history.sort((a, b) => a.at.localeCompare(b.at));
    for (const h of history) this.audit_.append(h);
  }

  private record(kind: string, at: number, fields: { actor?: string; incident_id?: number | null; host?: string; check?: string; detail?: string }) {
    this.audit_.append({
      at: iso(at), kind, actor: fields.actor ?? this.me, incident_id: fields.incident_id ?? null,
      host: fields.host ?? '', check: fields.check ?? '', detail: fields.detail ?? '',
    });
  }

  health(now = Date.now()): Health {
    return {
      started_at: iso(this.startedAt),
      last_cycle_at: iso(now - 2_000),
      outbox_backlog: 0,
      checks: this.fleet.servers.reduce((n, s) => n + s.checks.length, 0),
      interval_secs: 60,
      alarms: [],
      probe_lag_p99_ms: null,
      consoles: { connected: 1, snapshots_sent: 1, snapshots_built: 1, dropped: 0 },
      business_hours: inHours(now),
    };
  }

  snapshot(): ConsoleMessage {
    return { type: 'snapshot', rev: this.rev, servers: this.fleet.servers, health: this.health() };
  }

  /** Changes `k` random servers (a fresh check time, sometimes a problem opens or clears). */
  tick(k: number, now = Date.now()): { delta: ConsoleMessage; events: ConsoleMessage[] } {
    const changed = new Map<string, ServerView>();
    const events: ConsoleMessage[] = [];
    const all = this.fleet.servers;
    // Automatic recoveries that are due, and maintenance windows that start or end.
    for (const [host, due] of [...this.autoDue]) {
      if (due.at > now) continue;
      this.autoDue.delete(host);
      const fin = this.finishRecovery(host, due.id, now);
      for (const x of fin.servers) changed.set(x.label, x);
      events.push(...fin.events);
    }
    for (const w of this.windows) {
      const a = Date.parse(w.starts_at);
      const b = Date.parse(w.ends_at);
      if (!w.active && a <= now && b > now && Date.parse(w.created_at) <= now) {
        const res = this.startWindow(w, now);
        for (const x of res.servers) changed.set(x.label, x);
        events.push(...res.events);
      } else if (w.active && b <= now) {
        const res = this.endWindow(w, now, 'engine');
        for (const x of res.servers) changed.set(x.label, x);
        events.push(...res.events);
      }
    }
    for (let j = 0; j < k; j++) {
      const idx = Math.floor(this.r() * all.length);
      let s = all[idx];
      const roll = this.r();
      if (s.maintenance || s.role === 'gateway') {
        s = { ...s, last_check_at: iso(now) };
      } else if (s.worst_level !== null && roll < 0.3) {
        const open = s.checks.find((c) => c.incident !== null);
        if (open) {
          events.push(ev('incident_closed', open.incident!, s.label, open.check, open.level!, now));
          this.log.unshift(closeIncident(this.openIncident(s, open), now));
          this.extra.delete(open.incident!);
          s = setProblem(s, open.check, null, now);
        } else {
          s = recompute({ ...s, resources: s.resources.map((x) => ({ ...x, level: null, sample_level: null })) });
        }
      } else if (s.worst_level === null && roll < 0.04) {
        const c = this.r() < 0.3 ? 'ping' : s.checks[Math.floor(this.r() * s.checks.length)].check;
        const lvl: LevelNumber = c === 'ping' ? 5 : 4;
        s = setProblem(s, c, lvl, now);
        const open = s.checks.find((x) => x.check === c)!;
        events.push(ev('incident_opened', open.incident!, s.label, c, lvl, now));
        // A service down on a plan that includes its recovery at all hours: restarted at once.
        const action = recoveryFor(c);
        if (action && kindOf(action) === 'restart' && policies(s.plan).service === 'always' && !s.recovery) {
          const r = this.newRecovery(s, action, open.incident, null, now, true);
          s = { ...s, recovery: r, checks: s.checks.map((x) => (x.check === c ? { ...x, prompt: null } : x)) };
          this.autoDue.set(s.label, { id: r.id, at: now + 6_000 });
          events.push(this.startedEvent(r));
        }
      } else {
        const checks = s.checks.map((c) => (c.ok === null ? c : { ...c, last_at: iso(now), ms: Math.round(this.r() * 40) + 1 }));
        const resources = s.resources.map((x) => (x.resource === 'load' ? { ...x, value: (this.r() * 2).toFixed(2), at: iso(now) } : x));
        s = { ...s, checks, resources, last_check_at: iso(now) };
      }
      all[idx] = s;
      changed.set(s.label, s);
    }
    this.rev += 1;
    return {
      delta: { type: 'delta', rev: this.rev, servers: [...changed.values()], health: this.health(now) },
      events,
    };
  }

  async info(): Promise<AppInfo> {
    if (this.reviewFile !== undefined) {
      return { mode: 'review', source: this.reviewFile, db: this.reviewFile, version: 'dev', role: 'viewer', name: '', view: 'review' };
    }
    return {
      mode: 'fake',
      source: `fake fleet (${this.fleet.servers.length})`,
      db: '',
      version: 'dev',
      role: this.opts.role ?? 'operator',
      name: this.opts.name ?? 'yamada',
      view: this.opts.view ?? 'operator',
    };
  }

  /** An operator takes an open incident: the same answers (and errors) as the engine. */
  async acknowledge(incident: number, note: string): Promise<Acknowledgement> {
    if ((this.opts.role ?? 'operator') !== 'operator' || this.reviewFile !== undefined) {
      throw new BackendError('server', 'this token may only watch (viewer): acting needs an operator token', 'forbidden');
    }
    const all = this.fleet.servers;
    const idx = all.findIndex((s) => s.checks.some((c) => c.incident === incident));
    if (idx < 0) throw new BackendError('server', `incident #${incident} is not open`, 'not_found');
    const s = all[idx];
    const c = s.checks.find((x) => x.incident === incident)!;
    if (c.acknowledged_by) throw new BackendError('server', `incident #${incident} is already taken by ${c.acknowledged_by}`, 'conflict');
    const by = this.opts.name ?? 'yamada';
    const at = iso(Date.now());
    const next = recompute({ ...s, checks: s.checks.map((x) => (x === c ? { ...x, acknowledged_by: by } : x)) });
    all[idx] = next;
    const n = note.trim();
    this.extra.set(incident, [...(this.extra.get(incident) ?? []), step('acknowledged', Date.parse(at), n ? `by ${by}: ${n}` : `by ${by}`)]);
    this.record('acknowledged', Date.parse(at), { actor: by, incident_id: incident, host: s.label, check: c.check, detail: n });
    this.rev += 1;
    // Like the engine: the answer, then the delta and the event on the feed.
    setTimeout(() => {
      this.emit({ type: 'delta', rev: this.rev, servers: [next], health: this.health() });
      this.emit({ type: 'event', event: { event: 'incident_acknowledged', id: incident, host: s.label, check: c.check, by, note: n, at } });
    }, 150);
    return { incident, host: s.label, check: c.check, by, at };
  }

  // ---------------------------------------------------------------------------- console actions

  /** Replaces servers in the fleet and sends the delta and the events a moment after the answer
   * (like the engine: the answer first, then the feed). */
  private publish(servers: ServerView[], events: ConsoleMessage[] = []) {
    for (const s of servers) {
      const i = this.byLabel.get(s.label);
      if (i !== undefined) this.fleet.servers[i] = s;
    }
    this.rev += 1;
    const rev = this.rev;
    setTimeout(() => {
      if (servers.length) this.emit({ type: 'delta', rev, servers, health: this.health() });
      for (const e of events) this.emit(e);
    }, 100);
  }

  private refuse(code: string, message: string, data: Record<string, unknown> = {}): never {
    throw new BackendError('server', message, code, { code, message, ...data });
  }

  /** An incident by id: the open one of the live fleet (with its server), or a closed one. */
  private incidentById(id: number): { idx: number; s: ServerView; c: CheckView } | { closed: ReviewIncident } | null {
    const all = this.fleet.servers;
    for (let idx = 0; idx < all.length; idx++) {
      const c = all[idx].checks.find((x) => x.incident === id);
      if (c) return { idx, s: all[idx], c };
    }
    const closed = this.log.find((i) => i.id === id);
    return closed ? { closed } : null;
  }

  private addStep(id: number, kind: string, at: number, detail: string, actor?: string) {
    const found = this.incidentById(id);
    if (!found) return;
    if ('closed' in found) {
      const i = this.log.indexOf(found.closed);
      this.log[i] = { ...found.closed, story: [...found.closed.story, step(kind, at, detail, actor)] };
    } else {
      this.extra.set(id, [...(this.extra.get(id) ?? []), step(kind, at, detail, actor)]);
    }
  }

  private customerOf(s: ServerView | undefined): Customer | undefined {
    return s ? this.fleet.customers.find((c) => c.id === s.customer) : undefined;
  }

  private newRecovery(s: ServerView, action: string, incident: number | null, yen: number | null, now: number, automatic: boolean): Recovery {
    const r: Recovery = {
      id: this.nextRecovery++, host: s.label, incident_id: incident, action, requested_by: automatic ? 'engine' : this.me,
      automatic, billable_yen: yen, started_at: iso(now), finished_at: null, outcome: null, detail: '',
    };
    this.recoveryLog.push(r);
    const what = recoveryName(action, 'ja');
    this.record('recovery_started', now, { actor: r.requested_by, incident_id: incident, host: s.label, check: serviceOf(action), detail: automatic ? `automatic: ${what}` : what });
    if (incident !== null) this.addStep(incident, 'recovery_started', now, `by ${r.requested_by}: ${what}`);
    if (yen !== null) this.record('spot_billed', now, { incident_id: incident, host: s.label, detail: `${yen} yen` });
    return r;
  }

  private startedEvent(r: Recovery): ConsoleMessage {
    return {
      type: 'event',
      event: { event: 'recovery_started', id: r.id, host: r.host, incident_id: r.incident_id, action: r.action, by: r.requested_by, automatic: r.automatic, at: r.started_at },
    };
  }

  /** A recovery of one server, as the engine's decider checks it. */
  private startRecovery(s: ServerView, action: string, incident: number | null, consent: SpotConsent | null | undefined, now: number): Recovery {
    if (s.recovery) {
      const r = s.recovery;
      this.refuse('busy', `a recovery of ${s.label} is running: ${r.action}, asked by ${r.requested_by} at ${r.started_at}`, { recovery: r });
    }
    if (s.role === 'gateway') this.refuse('not_included', 'a gateway is recovered by the network team');
    const kind = kindOf(action);
    const cust = this.customerOf(s);
    const pol = cust ? cust.entitlements[kind === 'reboot' ? 'server_recovery' : 'service_recovery'] : policies(s.plan)[kind === 'reboot' ? 'server' : 'service'];
    if (pol === 'none') this.refuse('not_included', `plan ${s.plan} does not include ${kind === 'reboot' ? 'server' : 'service'} recovery`);
    const spot = spotExpected(kind, s.plan, inHours(now), pol);
    if (pol === 'business_hours' && !spot && kind === 'restart' && !inHours(now)) {
      this.refuse('not_included', 'the plan includes it on weekdays 9–18 only');
    }
    if (spot && !consent) this.refuse('needs_consent', `a spot recovery of ${s.label}: billed from ${spotMinYen()} yen, needs the customer's consent`);
    if (consent && (!consent.customer_person?.trim() || !(consent.amount_yen >= spotMinYen()))) {
      this.refuse('invalid', `consent: customer_person is required and amount_yen must be at least ${spotMinYen()}`);
    }
    const r = this.newRecovery(s, action, incident, spot && consent ? consent.amount_yen : null, now, false);
    const svc = serviceOf(action);
    const next = { ...s, recovery: r, checks: s.checks.map((c) => (c.incident !== null && (kind === 'reboot' ? c.check === 'ping' || c.check === 'ssh' : c.check === svc) ? { ...c, prompt: null } : c)) };
    this.publish([next], [this.startedEvent(r)]);
    const host = s.label;
    setTimeout(() => {
      const fin = this.finishRecovery(host, r.id, Date.now());
      this.publish(fin.servers, fin.events);
    }, this.opts.recoveryMs ?? 4_000);
    return r;
  }

  /** The result of a running recovery: a reboot brings ping and SSH back, a restart its service
   * (PostgreSQL does not come back: a failure to show); a target found up means nothing done. */
  private finishRecovery(host: string, id: number, now: number): { servers: ServerView[]; events: ConsoleMessage[] } {
    const i = this.byLabel.get(host);
    if (i === undefined) return { servers: [], events: [] };
    let s = this.fleet.servers[i];
    if (s.recovery?.id !== id) return { servers: [], events: [] };
    const r = whole(s.recovery);
    const kind = kindOf(r.action);
    const svc = serviceOf(r.action);
    const targets = s.checks.filter((c) => c.incident !== null && (kind === 'reboot' ? c.check === 'ping' || c.check === 'ssh' : c.check === svc));
    let outcome: Recovery['outcome'];
    let detail: string;
    if (targets.length === 0 && r.incident_id !== null) {
      outcome = 'already_up';
      detail = 're-confirmation found it up: nothing done';
    } else if (kind === 'restart' && svc === 'postgresql') {
      outcome = 'failed';
      detail = 'Job for postgresql.service failed because the control process exited with error code.';
    } else {
      outcome = 'recovered';
      detail = kind === 'reboot' ? 'rebooted; ping and SSH answer again' : `systemctl restart ${svc}: OK; the re-check passed`;
    }
    const done: Recovery = { ...r, finished_at: iso(now), outcome, detail };
    const k = this.recoveryLog.findIndex((x) => x.id === id);
    if (k >= 0) this.recoveryLog[k] = done;
    const events: ConsoleMessage[] = [
      { type: 'event', event: { event: 'recovery_finished', id, host, incident_id: r.incident_id, action: r.action, outcome, detail, at: iso(now) } },
    ];
    this.record('recovery_finished', now, { actor: r.requested_by, incident_id: r.incident_id, host, check: svc, detail: `${outcome}: ${detail}` });
    if (r.incident_id !== null) this.addStep(r.incident_id, 'recovery_finished', now, `by ${r.requested_by}: ${outcome} — ${detail}`);
    s = { ...s, recovery: null };
    if (outcome === 'recovered') {
      for (const c of targets) {
        events.push(ev('incident_closed', c.incident!, host, c.check, c.level ?? 4, now));
        this.log.unshift(closeIncident(this.openIncident(s, c), now));
        this.extra.delete(c.incident!);
        this.record('incident_closed', now, { actor: 'engine', incident_id: c.incident, host, check: c.check, detail: 'recovered' });
        s = setProblem(s, c.check, null, now);
      }
    } else if (outcome === 'failed') {
      s = { ...s, checks: s.checks.map((c) => (targets.includes(c) ? { ...c, prompt: { action: r.action, code: 'already_tried', message: 'the recovery failed: people decide' } } : c)) };
    }
    this.fleet.servers[i] = s;
    return { servers: [s], events };
  }

  private scopeServers(scope: PauseScope): number[] {
    const out: number[] = [];
    this.fleet.servers.forEach((s, i) => {
      if (scope.kind === 'server' ? s.label === scope.id : s.customer === scope.id) out.push(i);
    });
    return out;
  }

  private startWindow(w: MaintenanceWindow, now: number): { servers: ServerView[]; events: ConsoleMessage[] } {
    w.active = true;
    const servers: ServerView[] = [];
    for (const i of this.scopeServers(w.scope)) {
      const s = this.fleet.servers[i];
      const next: ServerView = {
        ...s,
        maintenance: { id: w.id, until: w.ends_at, reason: w.reason, by: w.who },
        checks: s.checks.map((c) => (c.incident !== null && c.prompt ? { ...c, prompt: { ...c.prompt, code: 'paused', message: 'the server is in maintenance' } } : c)),
      };
      this.fleet.servers[i] = next;
      servers.push(next);
    }
    void now;
    return { servers, events: [{ type: 'event', event: { event: 'maintenance_changed', maintenance: { ...w } } }] };
  }

  /** Ends a window at `now`; a paused server with a problem still there gets its held alert. */
  private endWindow(w: MaintenanceWindow, now: number, by: string): { servers: ServerView[]; events: ConsoleMessage[] } {
    const wasActive = w.active;
    w.active = false;
    if (Date.parse(w.ends_at) > now) w.ends_at = iso(now);
    const servers: ServerView[] = [];
    const events: ConsoleMessage[] = [{ type: 'event', event: { event: 'maintenance_changed', maintenance: { ...w } } }];
    this.record('maintenance_ended', now, { actor: by, host: w.scope.kind === 'server' ? w.scope.id : '', detail: `${w.scope.kind} ${w.scope.id}: ${w.reason}` });
    if (!wasActive) return { servers, events };
    for (const i of this.scopeServers(w.scope)) {
      let s = this.fleet.servers[i];
      if (s.maintenance?.id !== w.id) continue;
      s = { ...s, maintenance: null };
      s = {
        ...s,
        checks: s.checks.map((c) =>
          c.incident !== null ? { ...c, prompt: fakePrompt(s.plan, c.check, Date.parse(c.since ?? iso(now)), now, { tried: true }) } : c,
        ),
      };
      for (const c of s.checks) {
        if (c.incident === null || c.level === null) continue;
        const trigger = `${s.label} ${c.check === 'ping' ? 'ping 疎通不可' : `${c.check.toUpperCase()} サービスダウン`}`;
        events.push({ type: 'event', event: { event: 'alert_released', id: c.incident, host: s.label, check: c.check, level: c.level, trigger, at: iso(now) } });
        this.record('alert_released', now, { actor: 'engine', incident_id: c.incident, host: s.label, check: c.check, detail: trigger });
      }
      this.fleet.servers[i] = s;
      servers.push(s);
    }
    return { servers, events };
  }

  /** Any console action, checked like the engine's decider does (docs/console-actions.md). */
  async act(a: Action, now = Date.now()): Promise<ActionResult> {
    this.mayAct();
    const need = (ok: unknown, message: string) => {
      if (!ok) this.refuse('invalid', message);
    };
    const open = (id: number) => {
      const f = this.incidentById(id);
      if (!f) this.refuse('not_found', `incident #${id} does not exist`);
      return f;
    };
    switch (a.type) {
      case 'acknowledge':
        return { type: 'acknowledge', ...(await this.acknowledge(a.incident, a.note ?? '')) };
      case 'note': {
        need(a.text?.trim(), 'text is required');
        const f = open(a.incident);
        const host = 'closed' in f ? f.closed.host : f.s.label;
        const at = iso(now);
        this.addStep(a.incident, 'note_added', now, `by ${this.me}: ${a.text.trim()}`);
        this.record('note', now, { incident_id: a.incident, host, detail: a.text.trim() });
        this.publish([], [{ type: 'event', event: { event: 'note_added', incident: a.incident, host, by: this.me, text: a.text.trim(), at } }]);
        return { type: 'note', incident: a.incident, by: this.me, text: a.text.trim(), at };
      }
      case 'recover': {
        const f = open(a.incident);
        if ('closed' in f) this.refuse('closed', `incident #${a.incident} is closed`);
        const action = recoveryFor(f.c.check);
        if (!action) this.refuse('no_action', `nothing to recover for a ${f.c.check} incident`);
        return { type: 'recover', ...this.startRecovery(f.s, action, a.incident, a.consent, now) };
      }
      case 'reboot': {
        const s = this.server(a.host);
        if (!s) this.refuse('not_found', `no server ${a.host}`);
        const inc = s.checks.find((c) => (c.check === 'ping' || c.check === 'ssh') && c.incident !== null)?.incident ?? null;
        return { type: 'reboot', ...this.startRecovery(s, 'reboot', inc, a.consent, now) };
      }
      case 'restart': {
        const s = this.server(a.host);
        if (!s) this.refuse('not_found', `no server ${a.host}`);
        const c = s.checks.find((x) => x.check === a.service);
        if (!c) this.refuse('not_found', `${a.host} has no service ${a.service}`);
        if (!restartable(a.service)) this.refuse('no_action', `${a.service} cannot be restarted`);
        return { type: 'restart', ...this.startRecovery(s, `restart:${a.service}`, c.incident, a.consent, now) };
      }
      case 'log_call': {
        need(a.number?.trim(), 'number is required');
        need(['answered', 'no_answer', 'busy', 'voicemail'].includes(a.outcome), 'outcome must be answered, no_answer, busy or voicemail');
        const rings = a.rings ?? 10;
        need(Number.isInteger(rings) && rings >= 0 && rings <= 99, 'rings must be 0–99');
        const started = a.started_at ? Date.parse(a.started_at) : now;
        need(!Number.isNaN(started), 'started_at is not a time');
        const f = open(a.incident);
        const host = 'closed' in f ? f.closed.host : f.s.label;
        const c: Call = {
          id: this.nextRecord++, incident_id: a.incident, number: a.number.trim(), started_at: iso(started), rings, outcome: a.outcome,
          answered_by: a.outcome === 'answered' ? a.answered_by?.trim() || null : null, notes: a.notes?.trim() ?? '', operator: this.me,
        };
        this.calls.set(a.incident, [...(this.calls.get(a.incident) ?? []), c]);
        // The engine's detail: `call #ID to NUMBER at RFC3339: outcome (who), N rings, by OP: notes`.
        const said = `call #${c.id} to ${c.number} at ${c.started_at}: ${c.outcome}${c.answered_by ? ` (${c.answered_by})` : ''}, ${rings} rings, by ${this.me}${c.notes ? `: ${c.notes}` : ''}`;
        this.addStep(a.incident, 'call_logged', started, said, this.me);
        this.record('call_logged', now, { incident_id: a.incident, host, detail: said });
        this.publish([], [{ type: 'event', event: { event: 'call_logged', incident: a.incident, host, call: c } }]);
        return { type: 'log_call', ...c };
      }
      case 'consent': {
        need(a.customer_person?.trim(), 'customer_person is required');
        need(Number.isInteger(a.amount_yen) && a.amount_yen > 0, 'amount_yen must be a positive whole number');
        need(a.kind === 'investigation' || a.kind === 'spot_recovery', 'kind must be investigation or spot_recovery');
        const f = open(a.incident);
        const host = 'closed' in f ? f.closed.host : f.s.label;
        const earlier = this.consents.get(a.incident) ?? [];
        if (a.kind === 'investigation' && a.amount_yen > investigationCapYen() && earlier.length === 0) {
          this.refuse('over_cap', `an investigation consent above ${investigationCapYen()} yen needs the customer asked again (a new consent after the first)`);
        }
        const c: Consent = {
          id: this.nextRecord++, incident_id: a.incident, kind: a.kind, amount_yen: a.amount_yen, customer_person: a.customer_person.trim(),
          note: a.note?.trim() ?? '', operator: this.me, at: iso(now),
        };
        this.consents.set(a.incident, [...earlier, c]);
        this.addStep(a.incident, 'consent_recorded', now, `by ${this.me}: ${c.customer_person} ${c.amount_yen} 円 (${c.kind})`);
        this.record('consent_recorded', now, { incident_id: a.incident, host, detail: `${c.kind} ${c.amount_yen} yen, ${c.customer_person}` });
        return { type: 'consent', ...c };
      }
      case 'status_report': {
        need(a.subject?.trim() && a.body?.trim(), 'subject and body are required');
        const f = open(a.incident);
        const host = 'closed' in f ? f.closed.host : f.s.label;
        const at = iso(now);
        this.reportsSent.set(a.incident, (this.reportsSent.get(a.incident) ?? 0) + 1);
        const outbox = 7000 + this.nextRecord++;
        this.addStep(a.incident, 'status_report_queued', now, `by ${this.me}: ${a.subject.trim()}`);
        this.record('status_report_queued', now, { incident_id: a.incident, host, detail: a.subject.trim() });
        this.publish([], [{ type: 'event', event: { event: 'status_report_queued', incident: a.incident, host, by: this.me, at } }]);
        return { type: 'status_report', incident: a.incident, outbox_id: outbox, at };
      }
      case 'pause': {
        need(a.reason?.trim(), 'reason is required');
        need(a.scope && (a.scope.kind === 'server' || a.scope.kind === 'customer') && a.scope.id, 'scope is required');
        if (this.scopeServers(a.scope).length === 0) this.refuse('not_found', `no ${a.scope.kind} ${a.scope.id}`);
        const start = a.starts_at ? Date.parse(a.starts_at) : now;
        const end = a.ends_at ? Date.parse(a.ends_at) : a.minutes ? start + a.minutes * 60_000 : NaN;
        need(!Number.isNaN(start) && !Number.isNaN(end), 'the end (ends_at or minutes) is required');
        need(end > start && end > now, 'the window must end after it starts, in the future');
        const w: MaintenanceWindow = {
          id: this.nextWindow++, scope: { kind: a.scope.kind === 'customer' ? 'customer' : 'server', id: a.scope.id }, starts_at: iso(start), ends_at: iso(end), reason: a.reason.trim(),
          who: this.me, created_at: iso(now), active: false, ended_at: null, ended_by: null,
        };
        this.windows.push(w);
        this.record('maintenance_added', now, { host: a.scope.kind === 'server' ? a.scope.id : '', detail: `${a.scope.kind} ${a.scope.id}: ${jstDateTime(w.starts_at)} – ${jstDateTime(w.ends_at)}: ${w.reason}` });
        const res = start <= now ? this.startWindow(w, now) : { servers: [], events: [{ type: 'event', event: { event: 'maintenance_changed', maintenance: { ...w } } } as ConsoleMessage] };
        this.publish(res.servers, res.events);
        return { type: 'pause', ...w };
      }
      case 'end_pause': {
        const w = this.windows.find((x) => x.id === a.maintenance);
        if (!w) this.refuse('not_found', `no maintenance #${a.maintenance}`);
        if (!w.active && Date.parse(w.ends_at) <= now) this.refuse('closed', `maintenance #${w.id} has ended`);
        const res = this.endWindow(w, now, this.me);
        this.publish(res.servers, res.events);
        return { type: 'end_pause', ...w };
      }
      case 'extend_pause': {
        const w = this.windows.find((x) => x.id === a.maintenance);
        if (!w) this.refuse('not_found', `no maintenance #${a.maintenance}`);
        if (!w.active && Date.parse(w.ends_at) <= now) this.refuse('closed', `maintenance #${w.id} has ended`);
        const end = a.ends_at ? Date.parse(a.ends_at) : a.minutes ? Date.parse(w.ends_at) + a.minutes * 60_000 : NaN;
        need(!Number.isNaN(end) && end > now && end > Date.parse(w.starts_at), 'the new end (ends_at or minutes) must be in the future');
        w.ends_at = iso(end);
        this.record('maintenance_extended', now, { host: w.scope.kind === 'server' ? w.scope.id : '', detail: `${w.scope.kind} ${w.scope.id}: until ${jstDateTime(w.ends_at)}` });
        const servers: ServerView[] = [];
        if (w.active) {
          for (const i of this.scopeServers(w.scope)) {
            const s = this.fleet.servers[i];
            if (s.maintenance?.id === w.id) servers.push({ ...s, maintenance: { ...s.maintenance, until: w.ends_at } });
          }
        }
        this.publish(servers, [{ type: 'event', event: { event: 'maintenance_changed', maintenance: { ...w } } }]);
        return { type: 'extend_pause', ...w };
      }
    }
  }

  async escalation(incident: number): Promise<Escalation> {
    const f = this.incidentById(incident);
    if (!f) this.refuse('not_found', `incident #${incident} does not exist`);
    const inc = 'closed' in f ? f.closed : this.openIncident(f.s, f.c);
    const cust = this.customerOf('closed' in f ? this.server(inc.host) : f.s);
    const calls = this.calls.get(incident) ?? [];
    const consents = this.consents.get(incident) ?? [];
    const phones = cust?.phones ?? [];
    const st = escalationState(phones, calls);
    return {
      incident: { id: inc.id, host: inc.host, check: inc.check, level: inc.level, trigger: inc.trigger, opened_at: inc.opened_at, closed_at: inc.closed_at, events: [] },
      customer: cust ?? null,
      calls: [...calls],
      consents: [...consents],
      consented_yen: consents.reduce((n, c) => n + c.amount_yen, 0),
      answered: st.answered,
      exhausted: st.exhausted,
      next_number: st.answered || st.exhausted || st.next === null ? null : (phones[st.next] ?? null),
      status_report: statusReport(inc, cust, calls),
      status_reports_sent: this.reportsSent.get(incident) ?? 0,
    };
  }

  async maintenance(now = Date.now()): Promise<MaintenanceWindow[]> {
    const current = this.windows.filter((w) => w.active || Date.parse(w.ends_at) > now);
    const ended = this.windows.filter((w) => !current.includes(w)).sort((a, b) => b.ends_at.localeCompare(a.ends_at)).slice(0, 50);
    return [...current.sort((a, b) => a.starts_at.localeCompare(b.starts_at)), ...ended].map((w) => ({ ...w, scope: { ...w.scope } }));
  }

  async recoveries(host?: string, limit = 100): Promise<Recovery[]> {
    return this.recoveryLog
      .filter((r) => !host || r.host === host)
      .sort((a, b) => b.started_at.localeCompare(a.started_at) || b.id - a.id)
      .slice(0, limit)
      .map((r) => ({ ...r }));
  }

  async audit(limit = 200, before?: number): Promise<AuditPage> {
    return { entries: this.audit_.page(limit, before), verify: this.audit_.verify() };
  }

  /** An open incident of the live fleet, as the review lists it. */
  private openIncident(s: ServerView, c: CheckView): ReviewIncident {
    const opened = c.since ? Date.parse(c.since) : Date.now();
    const cust = this.fleet.customers.find((x) => x.id === s.customer);
    const story = [
      step('incident_opened', opened, c.detail),
      step('mail_queued', opened + 1_000, `to ${cust?.notify[0] ?? 'ops@example.jp'}`),
      step('mail_sent', opened + 4_000, `to ${cust?.notify[0] ?? 'ops@example.jp'}`),
    ];
    if (c.acknowledged_by && !this.extra.get(c.incident!)?.some((x) => x.kind === 'acknowledged')) {
      story.push(step('acknowledged', opened + 120_000, `by ${c.acknowledged_by}`));
    }
    story.push(...(this.extra.get(c.incident!) ?? []));
    return {
      id: c.incident!,
      host: s.label,
      customer: s.customer || null,
      customer_name: s.customer ? (cust?.name ?? s.customer_name) || null : null,
      check: c.check,
      level: c.level ?? 4,
      trigger: `${s.label} ${c.check === 'ping' ? 'ping 疎通不可' : `${c.check.toUpperCase()} サービスダウン`}`,
      opened_at: iso(opened),
      closed_at: null,
      duration_secs: null,
      story,
    };
  }

  /** The incident log, filtered like the engine does it, newest first. */
  async review(filter: ReviewFilter): Promise<ReviewIncident[]> {
    for (const k of ['from', 'to'] as const) {
      const v = filter[k];
      if (v && Number.isNaN(jstDayStart(v))) {
        throw new BackendError('server', `${k} "${v}": write a date as YYYY-MM-DD (Japan time)`, 'invalid');
      }
    }
    const open: ReviewIncident[] = [];
    for (const s of this.fleet.servers) {
      for (const c of s.checks) if (c.incident !== null) open.push(this.openIncident(s, c));
    }
    const hostsOf = (customer: string) =>
      new Set(this.fleet.servers.filter((s) => s.customer === customer).map((s) => s.label));
    return filterReview([...open, ...this.log], filter, hostsOf);
  }

  async openReview(): Promise<AppInfo | null> {
    if (!this.canOpenReview) return null;
    this.reviewFile = this.reviewFile === 'incidents-2026-04.db' ? 'incidents-2026-05.db' : 'incidents-2026-04.db';
    return this.info();
  }

  onMenu(): () => void {
    return () => {};
  }

  async saveFile(name: string, text: string): Promise<string | null> {
    this.lastSaved = { name, text };
    return typeof document === 'undefined' ? name : downloadText(name, text);
  }

  private mayAct(): void {
    if ((this.opts.role ?? 'operator') !== 'operator' || this.reviewFile !== undefined) {
      throw new BackendError('server', 'this token may only watch (viewer): acting needs an operator token', 'forbidden');
    }
  }

  private findReport(id: number): ReportDraft {
    const r = this.reportRows.find((x) => x.id === id);
    if (!r) throw new BackendError('server', `no report #${id}`, 'not_found');
    return r;
  }

  /** Like the engine: newest month first, then customer; `overdue` as of now. */
  async reports(month?: string, now = Date.now()): Promise<ReportDraft[]> {
    if (month && !isMonth(month)) throw new BackendError('server', `month "${month}": write it as YYYY-MM`, 'invalid');
    return this.reportRows
      .filter((r) => !month || r.month === month)
      .map((r) => ({ ...r, overdue: isOverdue(r.month, r.state, now) }))
      .sort((a, b) => b.month.localeCompare(a.month) || a.customer.localeCompare(b.customer));
  }

  async reportPreview(id: number): Promise<string> {
    const r = this.findReport(id);
    const cust = this.fleet.customers.find((c) => c.id === r.customer);
    return reportHtml(r, cust, this.fleet.servers.filter((s) => s.customer === r.customer));
  }

  async reportAction(id: number, op: 'send' | 'hold' | 'release', now = Date.now()): Promise<void> {
    this.mayAct();
    const r = this.findReport(id);
    const by = this.opts.name ?? 'yamada';
    const wrong = (action: string) =>
      new BackendError('server', `report ${id} is ${r.state} and cannot be ${action}`, 'conflict');
    if (op === 'send') {
      if (r.state === 'sent') throw wrong('sent');
      Object.assign(r, { state: 'sent', sent_at: iso(now), sent_by: by, outbox_id: 5000 + id });
    } else if (op === 'hold') {
      if (r.state !== 'draft') throw wrong('held');
      Object.assign(r, { state: 'held', held_by: by });
    } else {
      if (r.state !== 'held') throw wrong('released');
      Object.assign(r, { state: 'draft', held_by: null });
    }
  }

  async reportSendAll(month: string, now = Date.now()): Promise<ReportSendResult[]> {
    this.mayAct();
    if (!isMonth(month)) throw new BackendError('server', `month "${month}": write it as YYYY-MM`, 'invalid');
    const out: ReportSendResult[] = [];
    for (const r of this.reportRows.filter((x) => x.month === month && x.state === 'draft')) {
      await this.reportAction(r.id, 'send', now);
      out.push(r.outbox_id !== null ? { report: r.id, outbox: r.outbox_id } : { report: r.id, error: 'not queued' });
    }
    return out;
  }

  private emit(m: ConsoleMessage) {
    for (const l of this.listeners) l(m);
  }

  subscribe(onMessage: (m: ConsoleMessage) => void): () => void {
    this.listeners.add(onMessage);
    queueMicrotask(() => {
      onMessage({ type: 'connection', connected: true, since: iso(Date.now()), message: '' });
      onMessage(this.snapshot());
    });
    if (!this.timer && !this.opts.quiet) {
      this.timer = setInterval(() => {
        if (!this.connected) return;
        if (this.opts.dropAfter !== undefined && Date.now() - this.startedAt > this.opts.dropAfter * 1000) {
          this.connected = false;
          this.emit({ type: 'connection', connected: false, since: iso(Date.now()), message: 'simulated' });
          return;
        }
        const { delta, events } = this.tick(Math.max(1, Math.round(this.fleet.servers.length / 100)));
        this.emit(delta);
        for (const e of events) this.emit(e);
      }, 1000);
    }
    return () => {
      this.listeners.delete(onMessage);
      if (this.listeners.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  async incidents(open: boolean, limit: number): Promise<Incident[]> {
    const out: Incident[] = [];
    for (const s of this.fleet.servers) {
      for (const c of s.checks) {
        if (c.incident === null || c.level === null) continue;
        const name = c.check === 'ping' ? 'ping 疎通不可' : `${c.check.toUpperCase()} サービスダウン`;
        out.push({
          id: c.incident,
          host: s.label,
          check: c.check,
          level: c.level,
          trigger: `${s.label} ${name}`,
          opened_at: c.since ?? iso(Date.now()),
          closed_at: null,
          // The incident's log as the engine keeps it (mail events without a host).
          events: this.openIncident(s, c).story.map((st, k) => ({
            id: c.incident! * 100 + k, at: st.at, kind: st.kind, incident_id: c.incident, host: st.kind.startsWith('mail_') ? '' : s.label,
            check: st.kind.startsWith('mail_') ? '' : c.check, detail: st.detail, actor: st.actor ?? null, hash: null,
          })),
        });
      }
    }
    void open;
    return out.sort((a, b) => b.id - a.id).slice(0, limit);
  }

  async samples(host: string, resource: string, hours: number): Promise<Sample[]> {
    const r = rng([...`${host}/${resource}`].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7));
    const now = Date.now();
    const step = 5 * 60_000;
    const n = Math.floor((hours * 3_600_000) / step);
    const base = resource === 'load' ? 0.6 : resource === 'disk' ? 40 + r() * 40 : resource === 'inode' ? 10 + r() * 20 : 5;
    const out: Sample[] = [];
    for (let i = n; i >= 0; i--) {
      const t = now - i * step;
      const wave = Math.sin((t / 3_600_000) * (Math.PI / 6));
      let v: number;
      if (resource === 'load') v = Math.max(0, base + wave * 0.5 + r() * 0.6 + (r() < 0.02 ? 4 : 0));
      else if (resource === 'mailq') v = Math.max(0, Math.round(base + wave * 4 + r() * 6));
      else v = Math.min(100, base + (n - i) * 0.01 + r() * 0.5);
      out.push({ host, resource, at: iso(t), value: Math.round(v * 100) / 100 });
    }
    return out;
  }

  async catalogue(): Promise<Catalogue> {
    return catalogueData as Catalogue;
  }

  async customers(): Promise<Customer[]> {
    return this.fleet.customers;
  }

  async serverDetail(label: string): Promise<ServerView | null> {
    return this.server(label) ?? null;
  }

  server(label: string): ServerView | undefined {
    const i = this.byLabel.get(label);
    return i === undefined ? undefined : this.fleet.servers[i];
  }
}

function ev(
  kind: 'incident_opened' | 'incident_closed',
  id: number,
  host: string,
  check: string,
  level: LevelNumber,
  at: number,
): ConsoleMessage {
  const name = check === 'ping' ? 'ping 疎通不可' : `${check.toUpperCase()} サービスダウン`;
  const trigger = `${host} ${name}`;
  return {
    type: 'event',
    event: kind === 'incident_opened'
      ? { event: kind, id, host, check, level, trigger, at: iso(at), paused: false }
      : { event: kind, id, host, check, level, trigger, at: iso(at) },
  };
}

// ------------------------------------------------------------------------------ review log

const OPERATORS = ['yamada', 'suzuki', 'tanaka', 'sato'];

/** A step as the engine logs it: `actor` the operator (`by NAME` of the detail) or `engine`. */
function step(kind: string, at: number, detail: string, actor = actorOf(detail)): StoryStep {
  return { at: iso(at), kind, label: STEP_JA[kind] ?? kind, detail, actor };
}

/** Closes an open incident of the log at `at` (what the engine's story ends with). */
export function closeIncident(i: ReviewIncident, at: number): ReviewIncident {
  const opened = Date.parse(i.opened_at);
  const story = [...i.story];
  story.push(step('check_ok', at - 1_000, 'OK'), step('incident_closed', at, `recovered after ${Math.round((at - opened) / 60_000)} min`));
  return { ...i, closed_at: iso(at), duration_secs: Math.round((at - opened) / 1000), story };
}

/** About ten days of closed incidents on a dozen servers of the fleet, with whole stories. */
export function makeHistory(fleet: FakeFleet, now: number, seed = 1): ReviewIncident[] {
  const r = rng(seed + 99);
  const servers = fleet.servers.filter((s) => s.role === 'server').slice(0, 40);
  const picked = servers.filter((_, i) => i % 3 === 0).slice(0, 12);
  const out: ReviewIncident[] = [];
  let id = 900;
  for (const s of picked) {
    const cust = fleet.customers.find((c) => c.id === s.customer);
    const mail = cust?.notify[0] ?? 'ops@example.jp';
    const phone = cust?.phones[0] ?? '';
    const n = 1 + Math.floor(r() * 3);
    for (let k = 0; k < n; k++) {
      const roll = r();
      const check = roll < 0.3 ? 'ping' : roll < 0.55 ? 'http' : roll < 0.7 ? 'smtp' : roll < 0.85 ? 'disk' : 'load';
      const level = (check === 'ping' ? 5 : check === 'disk' ? 3 : check === 'load' ? 2 : 4) as LevelNumber;
      const opened = now - Math.round((0.3 + r() * 9.5) * 86_400_000);
      const dur = Math.round((3 + r() * (level >= 4 ? 240 : 600)) * 60_000);
      const closed = opened + dur;
      const op = OPERATORS[Math.floor(r() * OPERATORS.length)];
      const detail =
        check === 'ping' ? 'no reply within 10 s (3 of 3 lost)'
        : check === 'http' ? 'HTTP/1.1 503 Service Unavailable, body "メンテナンス中"'
        : check === 'smtp' ? `connection refused by ${s.ip}:25`
        : check === 'disk' ? '/ 92% (Lv.3)'
        : 'load average 12.40, 11.02, 9.87';
      const name =
        check === 'ping' ? 'ping 疎通不可'
        : check === 'disk' ? '/ の使用率が 90% を超えました'
        : check === 'load' ? 'Load avg. が高い状態です'
        : `${check.toUpperCase()} サービスダウン`;
      const story = [
        step('check_soft', opened - 120_000, `${detail} (1/3)`),
        step('check_hard', opened - 1_000, `${detail} (3/3)`),
        step('incident_opened', opened, detail),
        step('mail_queued', opened + 1_000, `to ${mail}`),
        step('mail_sent', opened + 5_000, `to ${mail}`),
      ];
      let t = opened + 5_000;
      if (level >= 4 || r() < 0.5) {
        t += Math.round((2 + r() * 8) * 60_000);
        story.push(step('acknowledged', t, r() < 0.6 ? `by ${op}: 確認します、顧客に連絡` : `by ${op}`));
      }
      if (level >= 4 && phone && r() < 0.7) {
        t += Math.round((1 + r() * 5) * 60_000);
        // The engine's call detail (`call #ID to NUMBER at RFC3339: outcome …, by OP: notes`): who
        // called is its actor, not a `by` at the start.
        const at = Math.min(t, closed - 60_000);
        story.push(step('call_logged', at, `call #${id * 10} to ${phone} at ${iso(at)}: answered (ご担当者様), 10 rings, by ${op}: 再起動の許可を得ました`, op));
      }
      if (level >= 4 && r() < 0.6) {
        t += 60_000;
        const cmd = check === 'http' ? 'systemctl restart httpd' : check === 'smtp' ? 'systemctl restart postfix' : 'サーバー再起動 (IPMI)';
        story.push(step('recovery_started', Math.min(t, closed - 50_000), `by ${op}: ${cmd}`));
        story.push(step('recovery_succeeded', closed - 30_000, `by ${op}: ${cmd} 完了`));
      }
      if (level === 5 && r() < 0.3) story.push(step('note_added', closed - 20_000, `by ${op}: データセンター側の回線障害, 復旧済み`));
      story.push(step('check_ok', closed - 1_000, 'OK'));
      story.push(step('incident_closed', closed, `recovered after ${Math.round(dur / 60_000)} min`));
      story.push(step('mail_sent', closed + 4_000, `復旧通知 to ${mail}`));
      story.sort((a, b) => a.at.localeCompare(b.at));
      out.push({
        id: id++,
        host: s.label,
        customer: s.customer || null,
        customer_name: s.customer ? (cust?.name ?? s.customer_name) || null : null,
        check,
        level,
        trigger: `${s.label} ${name}`,
        opened_at: iso(opened),
        closed_at: iso(closed),
        duration_secs: Math.round(dur / 1000),
        story,
      });
    }
  }
  return out.sort((a, b) => b.opened_at.localeCompare(a.opened_at));
}

/** The engine's review filter over a list (see the store's `review`). */
export function filterReview(
  list: readonly ReviewIncident[],
  f: ReviewFilter,
  hostsOf: (customer: string) => ReadonlySet<string>,
): ReviewIncident[] {
  const from = f.from ? jstDayStart(f.from) : NaN;
  const to = f.to ? jstDayStart(f.to) + 86_400_000 : NaN;
  const hosts = f.customer?.trim() ? hostsOf(f.customer.trim()) : null;
  const text = f.text?.trim().toLowerCase();
  const operator = f.operator?.trim();
  const out = list.filter((i) => {
    if (hosts && !hosts.has(i.host)) return false;
    if (f.server?.trim() && i.host !== f.server.trim()) return false;
    if (f.level && i.level !== f.level) return false;
    if (f.check?.trim() && i.check !== f.check.trim()) return false;
    const opened = Date.parse(i.opened_at);
    const closed = i.closed_at ? Date.parse(i.closed_at) : Infinity;
    if (!Number.isNaN(from) && closed < from) return false;
    if (!Number.isNaN(to) && opened >= to) return false;
    if (operator && !operatorsOf(i).includes(operator)) return false;
    if (text && !i.trigger.toLowerCase().includes(text) && !i.story.some((s) => s.detail.toLowerCase().includes(text))) return false;
    if (f.open === true && i.closed_at !== null) return false;
    return true;
  });
  out.sort((a, b) => b.opened_at.localeCompare(a.opened_at) || b.id - a.id);
  return f.limit ? out.slice(0, f.limit) : out;
}

// ------------------------------------------------------------------------------ monthly reports

/**
 * Report rows of the last two months for the customers entitled to a monthly report, as the
 * engine would hold them at `now`: the month before last all sent but one held (overdue); last
 * month, before its automatic send (the 10th 09:00 JST), mostly drafts; after it, sent by `auto`
 * except one held and one late draft (both overdue then). One customer of last month was sent by
 * an operator, so the panel shows every state.
 */
export function makeReports(fleet: FakeFleet, now: number): ReportDraft[] {
  let entitled = fleet.customers.filter((c) => c.entitlements.monthly_report);
  if (entitled.length < 3) entitled = fleet.customers.slice(0, 4);
  const out: ReportDraft[] = [];
  let id = 1;
  const last = defaultMonth(now);
  const before = addMonths(last, -1);
  const monthStart = (m: string) => Date.UTC(Number(m.slice(0, 4)), Number(m.slice(5, 7)) - 1, 1) - 9 * 3_600_000;
  for (const month of [before, last]) {
    const created = monthStart(addMonths(month, 1)) + 3_600_000; // the 1st, 01:00 JST
    const auto = autoSendAt(month);
    const afterAuto = now >= auto;
    entitled.forEach((c, i) => {
      const row: ReportDraft = {
        id: id++, customer: c.id, month, state: 'draft', created_at: iso(Math.min(created, now)),
        sent_at: null, sent_by: null, held_by: null, outbox_id: null, customer_name: c.name, overdue: false,
      };
      if (i === 0) {
        Object.assign(row, { state: 'held', held_by: 'suzuki' });
      } else if (i === 1 && month === last) {
        // Prepared after the automatic send (an engine started late): still a draft.
        if (afterAuto) row.created_at = iso(auto + 3 * 3_600_000);
      } else if (i === 2 && month === last) {
        const at = Math.min(now - 3_600_000, created + 2 * 86_400_000);
        Object.assign(row, { state: 'sent', sent_at: iso(at), sent_by: 'yamada', outbox_id: 4000 + row.id });
      } else if (month === before || afterAuto) {
        Object.assign(row, { state: 'sent', sent_at: iso(auto), sent_by: 'auto', outbox_id: 4000 + row.id });
      }
      out.push(row);
    });
  }
  return out;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);

/** A report mail's HTML as the engine draws it, roughly (no scripts, no outside resources). */
export function reportHtml(r: ReportDraft, cust: Customer | undefined, servers: readonly ServerView[]): string {
  const name = esc(cust?.name ?? r.customer_name ?? r.customer);
  const rows = servers
    .map((s, i) => {
      const up = (99.9 + ((i * 37) % 10) / 100).toFixed(2);
      return `<tr><td>${esc(s.label)}</td><td>${esc(s.fqdn || s.ip)}</td><td style="text-align:right">${up}%</td><td style="text-align:right">${i % 3}</td></tr>`;
    })
    .join('');
  const bars = Array.from({ length: 30 }, (_, d) => {
    const h = 20 + ((d * 53 + r.id * 17) % 60);
    return `<rect x="${d * 10 + 2}" y="${90 - h}" width="7" height="${h}" fill="#3d7cc9"/>`;
  }).join('');
  return `<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>${esc(monthLabel(r.month, 'ja'))} 月次レポート</title>
<style>body{font-family:'Noto Sans CJK JP',sans-serif;color:#222;background:#fff;margin:24px;line-height:1.6}
h1{font-size:20px;border-bottom:3px solid #2f6fb5;padding-bottom:4px}table{border-collapse:collapse;width:100%;font-size:13px}
td,th{border:1px solid #ccc;padding:4px 8px}th{background:#eef3fa;text-align:left}.muted{color:#777;font-size:12px}</style></head>
<body><h1>${name} 様 — ${esc(monthLabel(r.month, 'ja'))} 月次監視レポート</h1>
<p>いつも Anshin NOC をご利用いただきありがとうございます。${esc(monthLabel(r.month, 'ja'))}の監視結果をご報告いたします。</p>
<h2 style="font-size:16px">稼働状況</h2>
<table><thead><tr><th>サーバー</th><th>FQDN / IP</th><th>稼働率</th><th>障害件数</th></tr></thead><tbody>${rows || '<tr><td colspan="4">対象サーバーなし</td></tr>'}</tbody></table>
<h2 style="font-size:16px">Load avg. (日次最大)</h2>
<svg width="304" height="92" role="img" aria-label="Load avg."><rect width="304" height="92" fill="#f6f8fb"/>${bars}</svg>
<p class="muted">レポート #${r.id} · 作成 ${esc(r.created_at)} · このメールは送信専用です。</p></body></html>`;
}

/** The fake keeps a running recovery's whole record on its tile (the engine's tile carries the
 * view's fields only, `RecoveryView`), to log and finish it later. */
function keepWhole(r: Recovery): RecoveryView {
  return r;
}

function whole(r: RecoveryView): Recovery {
  return r as Recovery;
}
