//! Editing customers and servers of the fleet file from the console (issue 13, contract §9.1),
//! the pure parts: an edit as its HTTP route, the forms' text fields to and from the engine's
//! editable shapes, who may edit what, and a refusal in words. Every rule of what a valid
//! customer or server is stays the engine's (it validates with the fleet file's own parser and
//! answers FILE:LINE:COL): nothing is checked here beyond turning text into the shapes.

import { BackendError, type Backend, type CustomerEdit, type FleetEdit, type FleetEditRequest, type FleetSource, type ServerEdit } from '../backend/types';
import { describeError, type Lang } from './actions';

export interface FleetRoute {
  method: 'POST' | 'PUT' | 'DELETE';
  path: string;
  body: Record<string, unknown>;
}

const seg = (v: string) => encodeURIComponent(v);

/** The route of an edit (`/api/v1/fleet/…`) and its JSON body (the revision it was made against). */
export function fleetEditRoute(req: FleetEditRequest): FleetRoute {
  const { revision, edit } = req;
  switch (edit.op) {
    case 'add_customer':
      return { method: 'POST', path: '/api/v1/fleet/customers', body: { revision, customer: edit.customer } };
    case 'change_customer':
      return { method: 'PUT', path: `/api/v1/fleet/customers/${seg(edit.id)}`, body: { revision, customer: edit.customer } };
    case 'remove_customer':
      return { method: 'DELETE', path: `/api/v1/fleet/customers/${seg(edit.id)}`, body: { revision } };
    case 'add_server':
      return { method: 'POST', path: '/api/v1/fleet/servers', body: { revision, server: edit.server } };
    case 'change_server':
      return { method: 'PUT', path: `/api/v1/fleet/servers/${seg(edit.label)}`, body: { revision, server: edit.server } };
    case 'remove_server':
      return { method: 'DELETE', path: `/api/v1/fleet/servers/${seg(edit.label)}`, body: { revision } };
  }
}

/** Whether a console of this role may edit the fleet at all (operators and admins). */
export function mayEditFleet(role: string | null | undefined): boolean {
  return role === 'operator' || role === 'admin';
}

/** Whether it may change a plan or a contract (and so add a customer, who brings a plan). */
export function mayEditContract(role: string | null | undefined): boolean {
  return role === 'admin';
}

/** A list field as one entry per line (commas also separate); blanks dropped, order kept. */
export function parseList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function listText(items: readonly string[]): string {
  return items.join('\n');
}

/** `http=18080, ssh=2222` → `{http: 18080, ssh: 2222}`; entries that are not `name=number`
 * are returned in `bad` (the engine judges names and ranges). */
export function parsePorts(text: string): { ports: Record<string, number>; bad: string[] } {
  const ports: Record<string, number> = {};
  const bad: string[] = [];
  for (const entry of parseList(text.replace(/\s+(?=\S+\s*[=:])/g, ','))) {
    const m = /^([^=:\s]+)\s*[=:]\s*(\d+)$/.exec(entry);
    if (m) ports[m[1]] = Number(m[2]);
    else bad.push(entry);
  }
  return { ports, bad };
}

export function portsText(ports: Readonly<Record<string, number | undefined>>): string {
  return Object.entries(ports)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** The customer form's fields (text as typed). */
export interface CustomerFields {
  id: string;
  name: string;
  notify: string;
  phones: string;
  plan: string;
  planFrom: string;
  contractStart: string;
  contractMonths: string;
  contractEnd: string;
  /** `default` (the plan's), `yes`, `no`. */
  root: 'default' | 'yes' | 'no';
}

export function customerFields(c: CustomerEdit | null): CustomerFields {
  return {
    id: c?.id ?? '',
    name: c?.name ?? '',
    notify: listText(c?.notify ?? []),
    phones: listText(c?.phones ?? []),
    plan: c?.plan ?? '',
    planFrom: '',
    contractStart: c?.contract?.start ?? '',
    contractMonths: c?.contract ? String(c.contract.months) : '',
    contractEnd: c?.contract?.end ?? '',
    root: c?.root === true ? 'yes' : c?.root === false ? 'no' : 'default',
  };
}

/** The form as the engine's shape. A contract is sent when its start or term is filled; a
 * term that is not a number is sent as 0 (the engine says what a term may be). */
export function customerEdit(f: CustomerFields): CustomerEdit {
  const start = f.contractStart.trim();
  const months = f.contractMonths.trim();
  const contract =
    start || months ? { start, months: /^\d+$/.test(months) ? Number(months) : 0, end: f.contractEnd.trim() || null } : null;
  return {
    id: f.id.trim(),
    name: f.name.trim(),
    notify: parseList(f.notify),
    phones: parseList(f.phones),
    plan: f.plan.trim(),
    plan_from: f.planFrom.trim() || null,
    contract,
    root: f.root === 'yes' ? true : f.root === 'no' ? false : null,
  };
}

/** The server form's fields (text as typed). */
export interface ServerFields {
  label: string;
  customer: string;
  ip: string;
  fqdn: string;
  os: string;
  services: string[];
  ports: string;
  gateway: string;
  plesk: boolean;
}

export function serverFields(s: ServerEdit | null, customer = ''): ServerFields {
  return {
    label: s?.label ?? '',
    customer: s?.customer ?? customer,
    ip: s?.ip ?? '',
    fqdn: s?.fqdn ?? '',
    os: s?.os ?? '',
    services: [...(s?.services ?? [])],
    ports: portsText(s?.ports ?? {}),
    gateway: s?.gateway ?? '',
    plesk: s?.plesk ?? false,
  };
}

/** The form as the engine's shape, or the port entries it could not read. */
export function serverEdit(f: ServerFields): { server: ServerEdit; badPorts: string[] } {
  const { ports, bad } = parsePorts(f.ports);
  return {
    server: {
      label: f.label.trim(),
      customer: f.customer.trim(),
      ip: f.ip.trim(),
      fqdn: f.fqdn.trim(),
      os: f.os.trim() || null,
      services: [...f.services],
      ports,
      gateway: f.gateway.trim() || null,
      plesk: f.plesk,
    },
    badPorts: bad,
  };
}

/** A refused edit in words. The engine's own message (for an invalid edit, the fleet file's
 * FILE:LINE:COL diagnostic) is always shown whole. */
export function fleetErrorText(err: unknown, lang: Lang): string {
  if (err instanceof BackendError) {
    if (err.detail === 'forbidden' && /admin/.test(err.message)) {
      return lang === 'ja' ? `契約・プランの変更には管理者 (admin) のトークンが必要です (${err.message})` : err.message;
    }
    if (err.detail === 'invalid') return err.message;
  }
  return describeError(err, lang);
}

/** What sending an edit came to: done (the reload's summary), or refused in words; a file that
 * changed meanwhile (`stale`) is read again and comes back as `fresh` (the form keeps what was
 * typed, against the new revision). */
export type Sent = { done: string } | { error: string; fresh: FleetSource | null };

/** Sends `edit` made against `revision`. */
export async function sendEdit(
  backend: Pick<Backend, 'editFleet' | 'fleetSource'>,
  revision: string,
  edit: FleetEdit,
  lang: Lang,
): Promise<Sent> {
  try {
    return { done: (await backend.editFleet({ revision, edit })).summary };
  } catch (err) {
    const error = fleetErrorText(err, lang);
    if (!(err instanceof BackendError && err.detail === 'stale')) return { error, fresh: null };
    try {
      return { error, fresh: await backend.fleetSource() };
    } catch {
      return { error, fresh: null };
    }
  }
}
