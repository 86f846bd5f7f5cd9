//! The perf page's data source (`?fake=N&perf=1`: `npm run perf`, `make bench`): N servers made
//! from the servers of a snapshot the real engine sent (`tests/fixtures/snapshot.json`, recorded
//! by `scripts/record-fixtures.mjs`), and deltas that change a few of them. Deterministic for a
//! seed.
//!
//! It is not an engine and knows none of its rules: no thresholds, plans, hours, prices or
//! recoveries. A "problem" is a check marked failed with an incident of a level drawn at random;
//! everything else (check ids, customers, plans, the catalogue, if the snapshot has one) is
//! copied from the recording. Dev runs against the real engine (`npm run dev`, README), and the
//! unit tests replay what it recorded (`tests/replay.ts`).

import { BackendError } from './types';
import type { AppInfo, AuditPage, Backend, Catalogue, ConsoleMessage, Health, ServerView, View } from './types';
import catalogueData from './generated/catalogue.json';

/** A snapshot message as the engine sends it (whatever else it carries is passed on). */
export type Snapshot = Extract<ConsoleMessage, { type: 'snapshot' }>;

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

const iso = (ms: number) => new Date(ms).toISOString();
let nextIncident = 100_000;

/** `worst_level`, `problem_since` and `acknowledged` from the server's own checks and resources
 * (the view's fields kept consistent with each other; no rule decides anything here). */
export function recompute(s: ServerView): ServerView {
  let worst: number | null = null;
  let since: string | null = null;
  const open = s.checks.filter((c) => c.incident !== null && c.level !== null);
  for (const c of open) {
    worst = Math.max(worst ?? 0, c.level!);
    if (c.since && (since === null || c.since < since)) since = c.since;
  }
  for (const r of s.resources) if (r.level !== null) worst = Math.max(worst ?? 0, r.level);
  const acknowledged = open.length > 0 && open.every((c) => c.acknowledged_by !== null);
  return { ...s, worst_level: worst, problem_since: worst === null ? null : (since ?? s.problem_since ?? s.last_check_at), acknowledged };
}

/** Marks `check` of `s` failed with an open incident of `level` since `at` (`level` null: OK
 * again, the incident gone). */
export function setProblem(s: ServerView, check: string, level: number | null, at: number): ServerView {
  const checks = s.checks.map((c) => {
    if (c.check !== check) return c;
    if (level === null) return { ...c, ok: true, hard: false, failures: 0, incident: null, level: null, since: null, acknowledged_by: null, prompt: null, detail: 'OK', last_at: iso(at) };
    return { ...c, ok: false, hard: true, failures: 3, incident: c.incident ?? nextIncident++, level, since: c.since ?? iso(at), detail: 'connection refused', last_at: iso(at) };
  });
  return recompute({ ...s, checks, last_check_at: iso(at) });
}

/** The recorded servers, every check answered and no incident open: the generator's templates. */
function healthy(template: readonly ServerView[], now: number): ServerView[] {
  return template.map((s) =>
    recompute({
      ...s,
      maintenance: null,
      recovery: null,
      last_check_at: iso(now),
      checks: s.checks.map((c) => ({ ...c, ok: true, hard: false, failures: 0, incident: null, level: null, since: null, acknowledged_by: null, suppressed: null, prompt: null, unknown: null, last_at: iso(now) })),
      resources: s.resources.map((r) => ({ ...r, level: null, sample_level: null })),
    }),
  );
}

/** `n` servers copied from the recorded ones (labels and addresses made unique), about 5 % with
 * an open problem, 1 % in maintenance and 1 % not checked yet. */
export function makeFleet(template: readonly ServerView[], n: number, seed = 1, now = Date.now()): ServerView[] {
  if (template.length === 0) throw new Error('the recorded snapshot has no servers');
  const r = rng(seed);
  const base = healthy(template, now);
  const out: ServerView[] = [];
  for (let i = 0; i < n; i++) {
    const t = base[i % base.length];
    const copy = Math.floor(i / base.length);
    let s: ServerView = {
      ...t,
      label: copy ? `${t.label}-${copy}` : t.label,
      ip: `127.80.${Math.floor(i / 250)}.${(i % 250) + 1}`,
      fqdn: copy && t.fqdn ? `${copy}.${t.fqdn}` : t.fqdn,
      checks: t.checks.map((c) => ({ ...c, ms: Math.round(r() * 40 * 10) / 10 })),
    };
    const roll = r();
    if (roll < 0.05 && s.checks.length) {
      const c = s.checks[Math.floor(r() * s.checks.length)].check;
      s = setProblem(s, c, 2 + Math.floor(r() * 4), now - Math.round(r() * 3_600_000));
      if (r() < 0.3) s = recompute({ ...s, checks: s.checks.map((x) => (x.check === c ? { ...x, acknowledged_by: 'yamada' } : x)) });
    } else if (roll < 0.06) {
      s = { ...s, maintenance: { id: i + 1, until: iso(now + 3_600_000), reason: 'OS アップデート作業', by: 'yamada' } };
    } else if (roll < 0.07) {
      s = { ...s, last_check_at: null, checks: s.checks.map((c) => ({ ...c, ok: null, detail: '', ms: 0, last_at: null })) };
    }
    out.push(s);
  }
  return out;
}

/** Changes `k` random servers of `servers` in place (a fresh check time; sometimes a problem
 * opens or clears): the servers changed and the events of incidents opened and closed. */
export function change(servers: ServerView[], k: number, r: () => number, now: number): { changed: ServerView[]; events: ConsoleMessage[] } {
  const changed = new Map<string, ServerView>();
  const events: ConsoleMessage[] = [];
  for (let j = 0; j < k && servers.length; j++) {
    const idx = Math.floor(r() * servers.length);
    let s = servers[idx];
    const roll = r();
    const open = s.checks.find((c) => c.incident !== null);
    if (open && roll < 0.3) {
      events.push(incidentEvent('incident_closed', s, open.check, open.incident!, open.level!, now));
      s = setProblem(s, open.check, null, now);
    } else if (!open && !s.maintenance && roll < 0.04 && s.checks.length) {
      const c = s.checks[Math.floor(r() * s.checks.length)].check;
      s = setProblem(s, c, 4 + Math.floor(r() * 2), now);
      const o = s.checks.find((x) => x.check === c)!;
      events.push(incidentEvent('incident_opened', s, c, o.incident!, o.level!, now));
    } else {
      s = { ...s, last_check_at: iso(now), checks: s.checks.map((c) => (c.ok === null ? c : { ...c, last_at: iso(now), ms: Math.round(r() * 400) / 10 })) };
    }
    servers[idx] = s;
    changed.set(s.label, s);
  }
  return { changed: [...changed.values()], events };
}

function incidentEvent(kind: 'incident_opened' | 'incident_closed', s: ServerView, check: string, id: number, level: number, now: number): ConsoleMessage {
  const common = { id, host: s.label, check, level, trigger: `${s.label} ${check}`, at: iso(now) };
  return { type: 'event', event: kind === 'incident_opened' ? { event: kind, ...common, paused: false } : { event: kind, ...common, reason: null } };
}

export interface FakeOptions {
  /** No changes after the snapshot. */
  quiet?: boolean;
  view?: View;
}

/** The generated fleet as a backend: a snapshot, then (unless quiet) a delta every second.
 * Reads answer empty; actions are refused (`not_available`): nothing here would decide them. */
export class FakeBackend implements Backend {
  readonly kind = 'fake' as const;
  servers: ServerView[] = [];
  /** Resolves once the recorded snapshot is loaded and the fleet made. */
  readonly ready: Promise<void>;
  readonly canOpenReview = false;
  private template: Snapshot | null = null;
  private rev = 1;
  private readonly r: () => number;
  private readonly startedAt = Date.now();

  constructor(
    readonly n: number,
    private readonly opts: FakeOptions = {},
    seed = 1,
    template?: Snapshot,
  ) {
    this.r = rng(seed + 7);
    // Loaded on demand: the recording is a chunk of its own, never part of a console's page.
    const load = template ? Promise.resolve(template) : import('../../../tests/fixtures/snapshot.json').then((m) => m.default as unknown as Snapshot);
    this.ready = load.then((t) => {
      this.template = t;
      this.servers = makeFleet(t.servers, n, seed, Date.now());
    });
  }

  private recorded(): Snapshot {
    if (!this.template) throw new Error('the generated fleet is not ready (await ready)');
    return this.template;
  }

  health(now = Date.now()): Health {
    return {
      ...this.recorded().health,
      started_at: iso(this.startedAt),
      last_cycle_at: iso(now - 2_000),
      checks: this.servers.reduce((n, s) => n + s.checks.length, 0),
    };
  }

  /** The whole fleet as the engine's first message (with what else the recording carried). */
  snapshot(): Snapshot {
    return { ...this.recorded(), type: 'snapshot', rev: this.rev, servers: this.servers, health: this.health() };
  }

  /** Changes `k` servers: the delta and the events. */
  tick(k: number, now = Date.now()): { delta: ConsoleMessage; events: ConsoleMessage[] } {
    const { changed, events } = change(this.servers, k, this.r, now);
    this.rev += 1;
    return { delta: { type: 'delta', rev: this.rev, servers: changed, health: this.health(now) }, events };
  }

  async info(): Promise<AppInfo> {
    return { mode: 'fake', source: `generated fleet (${this.n})`, db: '', version: 'dev', role: 'operator', name: 'yamada', view: this.opts.view ?? 'operator' };
  }

  subscribe(onMessage: (m: ConsoleMessage) => void): () => void {
    let timer: ReturnType<typeof setInterval> | null = null;
    let stopped = false;
    void this.ready.then(() => {
      if (stopped) return;
      onMessage({ type: 'connection', connected: true, since: iso(Date.now()), message: '' });
      onMessage(this.snapshot());
      if (this.opts.quiet) return;
      timer = setInterval(() => {
        const { delta, events } = this.tick(Math.max(1, Math.round(this.servers.length / 100)));
        onMessage(delta);
        for (const e of events) onMessage(e);
      }, 1000);
    });
    return () => {
      stopped = true;
      if (timer) clearInterval(timer);
    };
  }

  async serverDetail(label: string): Promise<ServerView | null> {
    return this.servers.find((s) => s.label === label) ?? null;
  }

  private refuse(): never {
    throw new BackendError('server', 'the generated fleet (?fake=N) only draws: run the real engine to act (npm run dev)', 'not_available');
  }

  /** The catalogue as generated from the engine's tables (`generated/catalogue.json`). */
  catalogue = async () => catalogueData as Catalogue;
  incidents = async () => [];
  samples = async () => [];
  customers = async () => [];
  maintenance = async () => [];
  recoveries = async () => [];
  backups = async () => [];
  updates = async () => [];
  updateRuns = async () => [];
  resourceUps = async () => [];
  configWork = async (customer: string, month: string) => ({ customer, month, used_minutes: 0, remaining_minutes: 0, billable_minutes: 0, entries: [] });
  review = async () => [];
  reports = async () => [];
  audit = async (): Promise<AuditPage> => ({ entries: [], verify: { ok: true, entries: 0, error: null } });
  acknowledge = async (): Promise<never> => this.refuse();
  act = async (): Promise<never> => this.refuse();
  escalation = async (): Promise<never> => this.refuse();
  reportPreview = async (): Promise<never> => this.refuse();
  reportAction = async (): Promise<never> => this.refuse();
  reportSendAll = async (): Promise<never> => this.refuse();
  fleetSource = async (): Promise<never> => this.refuse();
  editFleet = async (): Promise<never> => this.refuse();
  openReview = async () => null;
  onMenu = () => () => {};
  saveFile = async () => null;
}
