//! Which backend this page talks to. Inside Tauri: IPC. `?fake=N`: N generated servers for the
//! perf page only (`fake.ts`; it draws, it does not act). Otherwise `anshin serve` (or `anshin
//! demo --listen`, also behind `npm run dev`'s proxy) at the page's own origin, with the token
//! from `?token=` (remembered in localStorage and removed from the address bar) or from the
//! login form.

import { FakeBackend, type FakeOptions } from './fake';
import { HttpBackend } from './http';
import { TauriBackend } from './tauri';
import type { Backend } from './types';

export type { Backend } from './types';

const TOKEN_KEY = 'anshin.token';
/** The most servers the perf page's generator makes (the fleet size the NOC plans for). */
const MAX_FAKE_SERVERS = 10_000;

export type Choice =
  | { kind: 'tauri' }
  | { kind: 'fake'; n: number; opts: FakeOptions }
  | { kind: 'http'; origin: string; token: string | null };

export interface Chosen {
  choice: Choice;
  /** The address without `?token=`, when it had one (to put in the address bar). */
  cleanUrl: string | null;
  /** A token that came in the URL, to remember. */
  newToken: string | null;
  wall: boolean;
  /** The incident log review (`/review`, `?view=review`). */
  review: boolean;
  /** The monthly reports panel (`/reports`, `?view=reports`). */
  reports: boolean;
  /** The maintenance windows (`/maintenance`, `?view=maintenance`). */
  maintenance: boolean;
  /** The audit log (`/audit`, `?view=audit`). */
  audit: boolean;
  /** The fleet's security updates (`/updates`, `?view=updates`). */
  updates: boolean;
}

/** Pure: what the URL (and a remembered token) select. */
export function choose(href: string, inTauri: boolean, storedToken: string | null): Chosen {
  const url = new URL(href);
  const params = url.searchParams;
  const wall = /\/wall\/?$/.test(url.pathname) || params.get('view') === 'wall';
  const review = !wall && (/\/review\/?$/.test(url.pathname) || params.get('view') === 'review');
  const reports = !wall && !review && (/\/reports\/?$/.test(url.pathname) || params.get('view') === 'reports');
  const maintenance = !wall && !review && !reports && (/\/maintenance\/?$/.test(url.pathname) || params.get('view') === 'maintenance');
  const audit = !wall && !review && !reports && !maintenance && (/\/audit\/?$/.test(url.pathname) || params.get('view') === 'audit');
  const updates = !wall && !review && !reports && !maintenance && !audit && (/\/updates\/?$/.test(url.pathname) || params.get('view') === 'updates');
  const fake = params.get('fake');
  if (fake !== null) {
    const n = Math.max(1, Math.min(MAX_FAKE_SERVERS, Number.parseInt(fake, 10) || 60));
    return {
      choice: { kind: 'fake', n, opts: { quiet: params.get('quiet') === '1', view: wall ? 'wall' : 'operator' } },
      cleanUrl: null,
      newToken: null,
      wall,
      review,
      reports,
      maintenance,
      audit,
      updates,
    };
  }
  if (inTauri) return { choice: { kind: 'tauri' }, cleanUrl: null, newToken: null, wall, review, reports, maintenance, audit, updates };
  const fromUrl = params.get('token');
  let cleanUrl: string | null = null;
  if (fromUrl !== null) {
    params.delete('token');
    cleanUrl = url.pathname + (params.size ? `?${params}` : '') + url.hash;
  }
  const token = fromUrl?.trim() || storedToken || null;
  return {
    choice: { kind: 'http', origin: url.origin, token },
    cleanUrl,
    newToken: fromUrl?.trim() || null,
    wall,
    review,
    reports,
    maintenance,
    audit,
    updates,
  };
}

export function inTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

export function storedToken(): string | null {
  try {
    return localStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function rememberToken(token: string | null): void {
  try {
    if (token) localStorage.setItem(TOKEN_KEY, token);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* private mode: the token lives for this page only */
  }
}

export function create(choice: Choice, onUnauthorized: (message: string) => void): Backend {
  switch (choice.kind) {
    case 'tauri':
      return new TauriBackend();
    case 'fake':
      return new FakeBackend(choice.n, choice.opts);
    case 'http':
      return new HttpBackend(choice.origin, choice.token ?? '', onUnauthorized);
  }
}

/** Where a link of the operator view goes (`/review`, `/reports`) beside this page (keeping
 * `?fake=` and friends, dropping `?open=`), or `?view=NAME` when the page has no path of its own. */
export function viewHref(href: string, view: 'review' | 'reports' | 'maintenance' | 'audit' | 'updates'): string {
  const url = new URL(href);
  url.searchParams.delete('open');
  url.searchParams.delete('token');
  if (url.searchParams.has('fake') || !/^https?:$/.test(url.protocol)) {
    url.searchParams.set('view', view);
    return url.pathname + `?${url.searchParams}`;
  }
  url.searchParams.delete('view');
  const q = url.searchParams.size ? `?${url.searchParams}` : '';
  return url.pathname.replace(/[^/]*$/, view) + q;
}

/** Where the operator view's "ログ閲覧" link goes. */
export function reviewHref(href: string): string {
  return viewHref(href, 'review');
}

/** Where the operator view's "メンテナンス" link goes. */
export function maintenanceHref(href: string): string {
  return viewHref(href, 'maintenance');
}

/** Where the operator view's "監査ログ" link goes. */
export function auditHref(href: string): string {
  return viewHref(href, 'audit');
}

/** Where the operator view's "更新" link goes. */
export function updatesHref(href: string): string {
  return viewHref(href, 'updates');
}

/** Where the operator view's "月次レポート" link goes. */
export function reportsHref(href: string): string {
  return viewHref(href, 'reports');
}

/** Back from the review or the reports to the live operator view. */
export function operatorHref(href: string): string {
  const url = new URL(href);
  url.searchParams.delete('view');
  url.searchParams.delete('mode');
  const q = url.searchParams.size ? `?${url.searchParams}` : '';
  return url.pathname.replace(/(review|reports|maintenance|audit|updates)\/?$/, '') + q;
}
