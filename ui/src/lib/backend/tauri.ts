//! The desktop backend: Tauri IPC. Requests are commands (`invoke`), messages arrive as the
//! payload of the Tauri event `"console"` (the same JSON objects as the WebSocket's frames).
//!
//! A listener registered after the shell emitted the first snapshot would miss it, so once the
//! listener is in place the window asks for one with the `snapshot` command.

import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import * as normalize from './normalize';
import { filterArgs } from '../model/review';
import {
  BackendError,
  type Acknowledgement,
  type Action,
  type ActionResult,
  type AppInfo,
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
  type Backend,
  type ConsoleMessage,
  type Customer,
  type FleetEditRequest,
  type FleetEdited,
  type FleetSource,
  type Incident,
  type ServerView,
  type ReportDraft,
  type ReportSendResult,
  type ReviewFilter,
  type ReviewIncident,
  type Sample,
} from './types';

export const CONSOLE_EVENT = 'console';

async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    // Commands fail with `{code, message}` or a plain string.
    const err = e as { code?: string; message?: string } | string;
    const message = typeof err === 'string' ? err : (err?.message ?? String(e));
    const code = typeof err === 'string' ? '' : (err?.code ?? '');
    throw new BackendError('server', message, code, typeof err === 'string' ? null : err);
  }
}

export class TauriBackend implements Backend {
  readonly kind = 'tauri' as const;

  async info(): Promise<AppInfo> {
    return normalize.appInfo(await call<unknown>('app_info'));
  }

  subscribe(onMessage: (m: ConsoleMessage) => void): () => void {
    let stopped = false;
    let unlisten: (() => void) | null = null;
    const deliver = (raw: unknown) => {
      const m = normalize.message(raw);
      if (!m || stopped) return;
      onMessage(m);
    };
    void (async () => {
      unlisten = await listen(CONSOLE_EVENT, (ev) => deliver(ev.payload));
      if (stopped) {
        unlisten();
        return;
      }
      try {
        deliver(await invoke('snapshot'));
      } catch {
        /* nothing to show until the shell emits a snapshot */
      }
    })();
    return () => {
      stopped = true;
      unlisten?.();
    };
  }

  incidents(open: boolean, limit: number): Promise<Incident[]> {
    return call('incidents', { open, limit });
  }

  samples(host: string, resource: string, hours: number): Promise<Sample[]> {
    return call('samples', { host, resource, hours });
  }

  customers(): Promise<Customer[]> {
    return call('customers');
  }

  catalogue(): Promise<Catalogue> {
    return call('catalogue');
  }

  async serverDetail(label: string): Promise<ServerView | null> {
    return (await call<ServerView | null>('server', { label })) ?? null;
  }

  async acknowledge(incident: number, note: string): Promise<Acknowledgement> {
    return call<Acknowledgement>('acknowledge', { incident, note: note.trim() || null });
  }

  /** The shell's `act` command takes the action object as is. */
  async act(action: Action): Promise<ActionResult> {
    return call<ActionResult>('act', { action });
  }

  async escalation(incident: number): Promise<Escalation> {
    return call<Escalation>('escalation', { incident });
  }

  async maintenance(): Promise<MaintenanceWindow[]> {
    return call<MaintenanceWindow[]>('maintenance');
  }

  async backups(host: string): Promise<BackupRun[]> {
    return call<BackupRun[]>('backups', { host });
  }

  /** The shell's `updates` command (the same rows as `GET /api/v1/updates?host=`). */
  updates(host: string): Promise<PendingUpdate[]> {
    return call<PendingUpdate[]>('updates', { host });
  }

  /** The shell's `update_runs` command (`GET /api/v1/updates/runs`). */
  updateRuns(host: string, limit?: number): Promise<UpdateRun[]> {
    return call<UpdateRun[]>('update_runs', { host, limit: limit ?? null });
  }

  async recoveries(host?: string, limit?: number): Promise<Recovery[]> {
    return call<Recovery[]>('recoveries', { host: host ?? null, limit: limit ?? null });
  }

  resourceUps(open = false): Promise<ResourceUp[]> {
    return call<ResourceUp[]>('resource_ups', { open });
  }

  configWork(customer: string, month: string): Promise<ConfigWorkMonth> {
    return call<ConfigWorkMonth>('config_work', { customer, month });
  }

  async audit(limit?: number, before?: number): Promise<AuditPage> {
    return call<AuditPage>('audit', { limit: limit ?? null, before: before ?? null });
  }

  async review(filter: ReviewFilter): Promise<ReviewIncident[]> {
    return call<ReviewIncident[]>('review', { filter: filterArgs(filter) });
  }

  readonly canOpenReview = true;

  /** The shell's native file chooser; the new app info, or null when cancelled. */
  async openReview(): Promise<AppInfo | null> {
    const raw = await call<unknown>('open_review');
    return raw == null ? null : normalize.appInfo(raw);
  }

  onMenu(cb: (id: string) => void): () => void {
    let stop: (() => void) | null = null;
    let stopped = false;
    void listen<string>('menu', (ev) => cb(String(ev.payload))).then((u) => {
      if (stopped) u();
      else stop = u;
    });
    return () => {
      stopped = true;
      stop?.();
    };
  }

  /** The webview does not save Blob downloads: the shell asks where (native dialog) and writes. */
  async saveFile(name: string, text: string): Promise<string | null> {
    const path = await call<unknown>('save_file', { name, content: text });
    return typeof path === 'string' && path ? path : null;
  }

  async reports(month?: string): Promise<ReportDraft[]> {
    return call<ReportDraft[]>('reports', { op: 'list', month: month || null });
  }

  async reportPreview(id: number): Promise<string> {
    const html = await call<unknown>('reports', { op: 'preview', id });
    return typeof html === 'string' ? html : '';
  }

  async reportAction(id: number, op: 'send' | 'hold' | 'release'): Promise<void> {
    await call('reports', { op, id });
  }

  async reportSendAll(month: string): Promise<ReportSendResult[]> {
    return call<ReportSendResult[]>('reports', { op: 'send-all', month });
  }

  fleetSource(): Promise<FleetSource> {
    return call<FleetSource>('fleet_source');
  }

  /** The shell's `fleet_edit` command takes the request as is. */
  editFleet(request: FleetEditRequest): Promise<FleetEdited> {
    return call<FleetEdited>('fleet_edit', { request });
  }
}
