//! An in-memory fleet for `npm run dev` without an engine, for the perf page (`?fake=2000`) and
//! for the unit tests. Deterministic for a seed; speaks exactly the console contract.
//!
//! `?fake=N` picks it with N servers; `&drop=S` loses the "connection" S seconds after the start
//! (to look at the disconnected state), `&quiet=1` stops the simulated changes.

import { BackendError } from './types';
import { downloadText } from './download';
import { jstDayStart, operatorsOf, STEP_JA } from '../model/review';
import { addMonths, autoSendAt, defaultMonth, isMonth, isOverdue, monthLabel } from '../model/reports';
import type {
  Acknowledgement,
  AppInfo,
  Backend,
  CheckView,
  ConsoleMessage,
  Customer,
  Health,
  Incident,
  LevelNumber,
  Plan,
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

function entitlements(plan: Plan): Customer['entitlements'] {
  const paid = plan !== 'zero';
  const big = plan === '150' || plan === '200';
  return {
    service_monitoring: paid,
    resource_monitoring: paid,
    phone_call: paid,
    monthly_report: plan === '60' || big,
    server_recovery: big ? 'always' : plan === '60' ? 'business_hours' : paid ? 'spot' : 'none',
    service_recovery: big ? 'always' : plan === '60' ? 'business_hours' : 'none',
  };
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

/** Opens (or closes) an incident on one check of a server: returns the new server. */
export function setProblem(s: ServerView, check: string, level: LevelNumber | null, at: number): ServerView {
  const checks = s.checks.map((c) => {
    if (c.check === check) {
      if (level === null) {
        return { ...c, ok: true, hard: false, failures: 0, incident: null, level: null, since: null, acknowledged_by: null, detail: 'OK', last_at: iso(at) };
      }
      return {
        ...c,
        ok: false,
        hard: true,
        failures: 3,
        acknowledged_by: c.incident === null ? null : c.acknowledged_by,
        incident: c.incident ?? nextIncident++,
        level,
        since: c.since ?? iso(at - 180_000),
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
      worst_level: null, problem_since: null, last_check_at: iso(now - 10_000), maintenance: null, acknowledged: false,
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
      s = setProblem(s, 'ping', 5, now - 47 * 60_000);
    } else if (showcase === 1) {
      // Lv.4, already taken by an operator (the "対応中" mark).
      const c = s.checks.length > 2 ? s.checks[2].check : 'ssh';
      s = setProblem(s, c, 4, now - 12 * 60_000);
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
      s = { ...s, maintenance: { until: iso(now + 5_400_000), reason: 'OS アップデート作業', by: 'yamada' } };
    } else if (showcase === 5) {
      s = { ...s, last_check_at: null, checks: s.checks.map((c) => ({ ...c, ok: null, detail: '', ms: null, last_at: null })) };
    } else if (showcase === 6) {
      s = { ...s, checks: s.checks.map((c) => (c.check === 'ssh' ? { ...c, ok: false, failures: 1, detail: 'connection timed out' } : c)) };
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
      s = { ...s, maintenance: { until: iso(now + 3_600_000), reason: 'OS アップデート作業', by: 'yamada' } };
    } else if (roll < 0.075) {
      s = { ...s, last_check_at: null, checks: s.checks.map((c) => ({ ...c, ok: null, detail: '', ms: null, last_at: null })) };
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

  constructor(n: number, private readonly opts: FakeOptions = {}, seed = 1) {
    this.fleet = makeFleet(n, seed);
    this.fleet.servers.forEach((s, i) => this.byLabel.set(s.label, i));
    this.r = rng(seed + 7);
    this.log = makeHistory(this.fleet, Date.now(), seed);
    this.reviewFile = opts.reviewFile;
    this.canOpenReview = opts.reviewFile !== undefined;
    this.reportRows = makeReports(this.fleet, Date.now());
  }

  health(now = Date.now()): Health {
    return {
      started_at: iso(this.startedAt),
      last_cycle_at: iso(now - 2_000),
      outbox_backlog: 0,
      checks: this.fleet.servers.reduce((n, s) => n + s.checks.length, 0),
      interval_secs: 60,
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
    this.rev += 1;
    // Like the engine: the answer, then the delta and the event on the feed.
    setTimeout(() => {
      this.emit({ type: 'delta', rev: this.rev, servers: [next], health: this.health() });
      this.emit({ type: 'event', event: { event: 'incident_acknowledged', id: incident, host: s.label, check: c.check, by, note: n, at } });
    }, 150);
    return { incident, host: s.label, check: c.check, by, at };
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
        throw new BackendError('server', `${k} "${v}": write a date as YYYY-MM-DD (Japan time)`, 'bad_request');
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
    if (month && !isMonth(month)) throw new BackendError('server', `month "${month}": write it as YYYY-MM`, 'bad_request');
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
    if (!isMonth(month)) throw new BackendError('server', `month "${month}": write it as YYYY-MM`, 'bad_request');
    const out: ReportSendResult[] = [];
    for (const r of this.reportRows.filter((x) => x.month === month && x.state === 'draft')) {
      await this.reportAction(r.id, 'send', now);
      out.push({ report: r.id, outbox: r.outbox_id, error: null });
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
          events: [
            { id: c.incident * 10, at: c.since ?? '', kind: 'opened', incident_id: c.incident, host: s.label, check: c.check, detail: c.detail },
          ],
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

  async customers(): Promise<Customer[]> {
    return this.fleet.customers;
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
  return { type: 'event', event: { event: kind, id, host, check, level, trigger: `${host} ${name}`, at: iso(at) } };
}

// ------------------------------------------------------------------------------ review log

const OPERATORS = ['yamada', 'suzuki', 'tanaka', 'sato'];

function step(kind: string, at: number, detail: string): StoryStep {
  return { at: iso(at), kind, label: STEP_JA[kind] ?? kind, detail };
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
        story.push(step('call_logged', Math.min(t, closed - 60_000), `by ${op}: ${phone} ご担当者様に連絡、再起動の許可を得ました`));
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
