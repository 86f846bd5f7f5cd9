//! The browser backend: HTTP requests with a bearer token and one WebSocket for messages, against
//! `anshin serve` at the page's own origin. The socket reconnects by itself, forever, with a
//! backoff of 1 s doubling to 10 s (each spread ±50 % at random); before each attempt `whoami` tells a refused token (401: the
//! login form comes back) from an engine that is away (keep trying).
//!
//! The engine sends something at least every 5 s (a `delta`, possibly without servers, as a
//! heartbeat). A socket silent for 15 s is a frozen engine or a dead link that TCP has not noticed:
//! the watchdog closes it, reports the connection as lost and reconnects with the same backoff.

import * as normalize from './normalize';
import { downloadText } from './download';
import { filterToQuery } from '../model/review';
import { actionRoute } from '../model/actions';
import { fleetEditRoute } from '../model/fleet-edit';
import {
  BackendError,
  type Acknowledgement,
  type Action,
  type ActionResult,
  type AuditPage,
  type Catalogue,
  type ConfigWorkMonth,
  type ResourceUp,
  type Escalation,
  type MaintenanceWindow,
  type BackupRun,
  type PendingUpdate,
  type UpdateRun,
  type Recovery,
  type AppInfo,
  type Backend,
  type ConsoleMessage,
  type Customer,
  type FleetEditRequest,
  type FleetEdited,
  type FleetSource,
  type Incident,
  type ReportDraft,
  type ReportSendResult,
  type ReviewFilter,
  type ReviewIncident,
  type Role,
  type Sample,
  type ServerView,
} from './types';

/** Delay before reconnect attempt `n` (0-based): about 1 s, 2 s, 4 s, 8 s, then 10 s forever,
 * each spread by ±50 % at random, so that every wall and workstation losing the engine at once
 * (an engine restart) does not come back in the same instant. `random` is for tests. */
export function backoffMs(n: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 1000 * 2 ** Math.max(0, Math.min(n, 10)));
  return Math.round(base * (0.5 + random()));
}

/** The engine sends at least every 5 s; this long without any message means the link is lost. */
export const SILENCE_LIMIT_MS = 15_000;
/** How long the `whoami` probe before a reconnection may take (a frozen engine never answers). */
export const PROBE_TIMEOUT_MS = 10_000;

/** Pure: the watchdog of one socket. `feed` on every message; `expired` when silent too long. */
export class Watchdog {
  private last: number;
  constructor(
    now: number,
    readonly limitMs = SILENCE_LIMIT_MS,
  ) {
    this.last = now;
  }
  feed(now: number): void {
    this.last = Math.max(this.last, now);
  }
  /** Milliseconds without a message at `now`. */
  silence(now: number): number {
    return Math.max(0, now - this.last);
  }
  expired(now: number): boolean {
    return this.silence(now) >= this.limitMs;
  }
}

export class HttpBackend implements Backend {
  readonly kind = 'http' as const;
  private role: Role | null = null;

  constructor(
    private readonly origin: string,
    private readonly token: string,
    /** Called when the engine refuses the token (HTTP 401). */
    private readonly onUnauthorized: (message: string) => void,
  ) {}

  private get<T>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  private async request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    body?: unknown,
    opts: { text?: boolean; timeoutMs?: number } = {},
  ): Promise<T> {
    let res: Response;
    const abort = new AbortController();
    const timer = opts.timeoutMs ? setTimeout(() => abort.abort(), opts.timeoutMs) : null;
    try {
      const headers: Record<string, string> = { Authorization: `Bearer ${this.token}` };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      res = await fetch(new URL(path, this.origin), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        signal: abort.signal,
      });
    } catch (e) {
      if (abort.signal.aborted) throw new BackendError('network', `no answer within ${Math.round((opts.timeoutMs ?? 0) / 1000)} s`);
      throw new BackendError('network', e instanceof Error ? e.message : String(e));
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (res.status === 401) {
      let message = '';
      try {
        message = normalizeText((await res.json())?.message);
      } catch {
        /* the body is optional */
      }
      this.onUnauthorized(message);
      throw new BackendError('unauthorized', message || 'unauthorized');
    }
    if (!res.ok) {
      let message = `HTTP ${res.status}`;
      let code = '';
      let data: unknown = null;
      try {
        const body = await res.json();
        data = body;
        if (body?.message) message = normalizeText(body.message);
        code = normalizeText(body?.code);
      } catch {
        /* not JSON */
      }
      // A 403 without a code is a viewer's token (every POST needs an operator).
      if (!code && res.status === 403) code = 'forbidden';
      throw new BackendError('server', message, code || String(res.status), data);
    }
    try {
      return (opts.text ? await res.text() : await res.json()) as T;
    } catch (e) {
      throw new BackendError('bad_response', String(e));
    }
  }

  async info(): Promise<AppInfo> {
    const who = await this.get<{ role?: string; name?: string }>('/api/v1/whoami');
    this.role = who.role === 'operator' || who.role === 'admin' ? who.role : 'viewer';
    return {
      mode: 'web',
      source: this.origin,
      db: '',
      version: '',
      role: this.role,
      name: normalizeText(who.name),
      view: 'operator',
    };
  }

  subscribe(onMessage: (m: ConsoleMessage) => void): () => void {
    let stopped = false;
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let attempt = 0;
    let downSince: string | null = null;
    let watch: ReturnType<typeof setInterval> | null = null;
    const clearWatch = () => {
      if (watch) clearInterval(watch);
      watch = null;
    };

    const down = (message: string) => {
      downSince ??= new Date().toISOString();
      onMessage({ type: 'connection', connected: false, since: downSince, message });
    };
    const retry = () => {
      if (stopped) return;
      const wait = backoffMs(attempt++);
      timer = setTimeout(connect, wait);
    };
    const connect = async () => {
      timer = null;
      if (stopped) return;
      // A WebSocket refused at the upgrade shows no status: ask an ordinary request first.
      try {
        await this.request('GET', '/api/v1/whoami', undefined, { timeoutMs: PROBE_TIMEOUT_MS });
      } catch (e) {
        if (e instanceof BackendError && e.code === 'unauthorized') {
          stopped = true; // the login form takes over
          return;
        }
        down(e instanceof Error ? e.message : String(e));
        retry();
        return;
      }
      if (stopped) return;
      const url = new URL('/api/v1/events', this.origin);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      url.searchParams.set('token', this.token);
      const ws = new WebSocket(url);
      socket = ws;
      let opened = false;
      // Silence from the first moment counts too (an upgrade that never completes).
      const dog = new Watchdog(Date.now());
      watch = setInterval(() => {
        if (stopped || socket !== ws || !dog.expired(Date.now())) return;
        // Do not wait for the close handshake of a frozen peer: drop the socket now.
        ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
        socket = null;
        clearWatch();
        try {
          ws.close();
        } catch {
          /* already closing */
        }
        down(`no message for ${Math.round(dog.limitMs / 1000)} s`);
        retry();
      }, 1000);
      ws.onopen = () => {
        opened = true;
        attempt = 0;
        downSince = null;
        dog.feed(Date.now());
        onMessage({ type: 'connection', connected: true, since: new Date().toISOString(), message: '' });
      };
      ws.onmessage = (ev) => {
        dog.feed(Date.now());
        if (typeof ev.data !== 'string') return;
        let raw: unknown;
        try {
          raw = JSON.parse(ev.data);
        } catch {
          return;
        }
        const m = normalize.message(raw);
        if (m) onMessage(m);
      };
      ws.onclose = (ev) => {
        if (socket === ws) socket = null;
        clearWatch();
        if (stopped) return;
        // The engine says why it ended a feed (a console too slow for it is dropped and comes back).
        down(opened ? (ev.reason ? `closed (${ev.code}): ${ev.reason}` : `closed (${ev.code})`) : 'cannot connect');
        retry();
      };
      ws.onerror = () => {
        /* onclose follows and decides */
      };
    };

    void connect();
    return () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      clearWatch();
      socket?.close();
    };
  }

  incidents(open: boolean, limit: number): Promise<Incident[]> {
    return this.get(`/api/v1/incidents?open=${open}&limit=${limit}`);
  }

  samples(host: string, resource: string, hours: number): Promise<Sample[]> {
    const q = new URLSearchParams({ host, resource, hours: String(hours) });
    return this.get(`/api/v1/samples?${q}`);
  }

  customers(): Promise<Customer[]> {
    return this.get('/api/v1/customers');
  }

  catalogue(): Promise<Catalogue> {
    return this.get('/api/v1/catalogue');
  }

  async serverDetail(label: string): Promise<ServerView | null> {
    try {
      return await this.get<ServerView>(`/api/v1/servers/${encodeURIComponent(label)}`);
    } catch (e) {
      if (e instanceof BackendError && e.detail === 'not_found') return null;
      throw e;
    }
  }

  async acknowledge(incident: number, note: string): Promise<Acknowledgement> {
    return (await this.act({ type: 'acknowledge', incident, note })) as Acknowledgement;
  }

  /** Each action type has its route (docs/console-actions.md); refusals throw with the code. */
  async act(action: Action): Promise<ActionResult> {
    const route = actionRoute(action);
    return this.request<ActionResult>(route.method, route.path, route.body);
  }

  async escalation(incident: number): Promise<Escalation> {
    return this.get<Escalation>(`/api/v1/incidents/${encodeURIComponent(String(incident))}/escalation`);
  }

  async maintenance(): Promise<MaintenanceWindow[]> {
    return this.get<MaintenanceWindow[]>('/api/v1/maintenance');
  }

  async backups(host: string, limit?: number): Promise<BackupRun[]> {
    const q = new URLSearchParams({ host });
    if (limit) q.set('limit', String(limit));
    return this.get<BackupRun[]>(`/api/v1/backups?${q}`);
  }

  updates(host: string): Promise<PendingUpdate[]> {
    return this.get<PendingUpdate[]>(`/api/v1/updates?${new URLSearchParams({ host })}`);
  }

  updateRuns(host: string, limit?: number): Promise<UpdateRun[]> {
    const q = new URLSearchParams({ host });
    if (limit) q.set('limit', String(limit));
    return this.get<UpdateRun[]>(`/api/v1/updates/runs?${q}`);
  }

  async recoveries(host?: string, limit?: number): Promise<Recovery[]> {
    const q = new URLSearchParams();
    if (host) q.set('host', host);
    if (limit) q.set('limit', String(limit));
    return this.get<Recovery[]>(`/api/v1/recoveries${q.size ? `?${q}` : ''}`);
  }

  resourceUps(open = false): Promise<ResourceUp[]> {
    return this.get<ResourceUp[]>(`/api/v1/ledger/resource-ups?open=${open}`);
  }

  configWork(customer: string, month: string): Promise<ConfigWorkMonth> {
    const q = new URLSearchParams({ customer, month });
    return this.get<ConfigWorkMonth>(`/api/v1/ledger/config-work?${q}`);
  }

  async audit(limit?: number, before?: number): Promise<AuditPage> {
    const q = new URLSearchParams();
    if (limit) q.set('limit', String(limit));
    if (before !== undefined && before !== null) q.set('before', String(before));
    return this.get<AuditPage>(`/api/v1/audit${q.size ? `?${q}` : ''}`);
  }

  async review(filter: ReviewFilter): Promise<ReviewIncident[]> {
    const q = filterToQuery(filter);
    return this.get<ReviewIncident[]>(`/api/v1/review${q ? `?${q}` : ''}`);
  }

  readonly canOpenReview = false;

  async openReview(): Promise<AppInfo | null> {
    return null;
  }

  /** A browser page has no menu bar of ours. */
  onMenu(): () => void {
    return () => {};
  }

  async saveFile(name: string, text: string): Promise<string | null> {
    return downloadText(name, text);
  }

  async reports(month?: string): Promise<ReportDraft[]> {
    const q = month ? `?${new URLSearchParams({ month })}` : '';
    return this.get<ReportDraft[]>(`/api/v1/reports${q}`);
  }

  reportPreview(id: number): Promise<string> {
    return this.request<string>('GET', `/api/v1/reports/${id}/preview`, undefined, { text: true });
  }

  async reportAction(id: number, op: 'send' | 'hold' | 'release'): Promise<void> {
    await this.request('POST', `/api/v1/reports/${id}/${op}`, {});
  }

  async reportSendAll(month: string): Promise<ReportSendResult[]> {
    const q = new URLSearchParams({ month });
    return this.request<ReportSendResult[]>('POST', `/api/v1/reports/send-all?${q}`, {});
  }

  fleetSource(): Promise<FleetSource> {
    return this.get<FleetSource>('/api/v1/fleet/source');
  }

  editFleet(req: FleetEditRequest): Promise<FleetEdited> {
    const route = fleetEditRoute(req);
    return this.request<FleetEdited>(route.method, route.path, route.body);
  }
}

function normalizeText(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
