import { describe, expect, it } from 'vitest';
import {
  customerEdit, customerFields, fleetEditRoute, fleetErrorText, mayEditContract, mayEditFleet, parseList, parsePorts,
  portsText, sendEdit, serverEdit, serverFields,
} from '../src/lib/model/fleet-edit';
import { appInfo } from '../src/lib/backend/normalize';
import { BackendError, type CustomerEdit, type FleetEdit, type ServerEdit } from '../src/lib/backend/types';

const CUSTOMER: CustomerEdit = {
  id: 'c1001',
  name: 'サンプル株式会社',
  notify: ['ops@example.jp', 'it@example.jp'],
  phones: ['03-0000-0001', '090-0000-0002'],
  plan: '150',
  plan_from: null,
  contract: { start: '2026-01-01', months: 12, end: null },
  root: null,
};

const SERVER: ServerEdit = {
  label: 'web01',
  customer: 'c1001',
  ip: '127.78.0.2',
  fqdn: 'web01.example.jp',
  os: 'AlmaLinux 9',
  services: ['http', 'smtp'],
  ports: { http: 18080, ssh: 2222 },
  gateway: null,
  plesk: false,
};

describe('fleet edit → route', () => {
  const cases: [FleetEdit, string, string, Record<string, unknown>][] = [
    [{ op: 'add_customer', customer: CUSTOMER }, 'POST', '/api/v1/fleet/customers', { revision: 'r1', customer: CUSTOMER }],
    [{ op: 'change_customer', id: 'c 1', customer: CUSTOMER }, 'PUT', '/api/v1/fleet/customers/c%201', { revision: 'r1', customer: CUSTOMER }],
    [{ op: 'remove_customer', id: 'c1001' }, 'DELETE', '/api/v1/fleet/customers/c1001', { revision: 'r1' }],
    [{ op: 'add_server', server: SERVER }, 'POST', '/api/v1/fleet/servers', { revision: 'r1', server: SERVER }],
    [{ op: 'change_server', label: 'web01', server: SERVER }, 'PUT', '/api/v1/fleet/servers/web01', { revision: 'r1', server: SERVER }],
    [{ op: 'remove_server', label: 'web/01' }, 'DELETE', '/api/v1/fleet/servers/web%2F01', { revision: 'r1' }],
  ];
  it.each(cases)('%o', (edit, method, path, body) => {
    expect(fleetEditRoute({ revision: 'r1', edit })).toEqual({ method, path, body });
  });
});

describe('who may edit', () => {
  it('operators and admins edit the fleet, only admins the contract', () => {
    expect([mayEditFleet('viewer'), mayEditFleet('operator'), mayEditFleet('admin'), mayEditFleet(undefined)]).toEqual([false, true, true, false]);
    expect([mayEditContract('viewer'), mayEditContract('operator'), mayEditContract('admin')]).toEqual([false, false, true]);
  });
  it('an admin token stays an admin in the desktop shell’s app info', () => {
    expect(appInfo({ role: 'admin' }).role).toBe('admin');
    expect(appInfo({ role: 'viewer' }).role).toBe('viewer');
    expect(appInfo({}).role).toBe('operator');
  });
});

describe('form fields ↔ editable shapes', () => {
  it('a customer goes through the form unchanged', () => {
    expect(customerEdit(customerFields(CUSTOMER))).toEqual(CUSTOMER);
    const root = { ...CUSTOMER, root: false, contract: { start: '2026-01-01', months: 6, end: '2027-01-01' } };
    expect(customerEdit(customerFields(root))).toEqual(root);
  });
  it('a new customer starts empty, without a contract', () => {
    const e = customerEdit(customerFields(null));
    expect(e).toEqual({ id: '', name: '', notify: [], phones: [], plan: '', plan_from: null, contract: null, root: null });
  });
  it('phone numbers keep their order, blank lines and spaces dropped', () => {
    const f = { ...customerFields(CUSTOMER), phones: ' 090-1111-2222\n\n03-0000-0001 , 03-3333-4444\n' };
    expect(customerEdit(f).phones).toEqual(['090-1111-2222', '03-0000-0001', '03-3333-4444']);
  });
  it('a term that is not a number reaches the engine as 0 (its message says what a term is)', () => {
    const f = { ...customerFields(CUSTOMER), contractMonths: 'twelve', planFrom: ' 2026-06-01 ' };
    expect(customerEdit(f).contract?.months).toBe(0);
    expect(customerEdit(f).plan_from).toBe('2026-06-01');
  });
  it('a server goes through the form unchanged', () => {
    expect(serverEdit(serverFields(SERVER))).toEqual({ server: SERVER, badPorts: [] });
    const gw = { ...SERVER, os: null, gateway: 'gw1', plesk: true, ports: {} };
    expect(serverEdit(serverFields(gw)).server).toEqual(gw);
  });
  it('a new server gets the customer it was added for', () => {
    expect(serverFields(null, 'c1002').customer).toBe('c1002');
  });
  it('ports are read as name=number, with the entries that are not', () => {
    expect(parsePorts('http=8080, ssh = 2222 smtp:2525')).toEqual({ ports: { http: 8080, ssh: 2222, smtp: 2525 }, bad: [] });
    expect(parsePorts('http=80a, imap')).toEqual({ ports: {}, bad: ['http=80a', 'imap'] });
    expect(portsText({ http: 18080, ssh: 2222 })).toBe('http=18080, ssh=2222');
    expect(parseList('a\n, b,,\n')).toEqual(['a', 'b']);
  });
});

describe('a refused edit in words', () => {
  it('an invalid edit shows the fleet file’s diagnostic as it came', () => {
    const msg = 'fleet.toml:12:11: "call me" is not a valid phones entry: write it like "03-0000-0001"';
    expect(fleetErrorText(new BackendError('server', msg, 'invalid'), 'ja')).toBe(msg);
  });
  it('a stale revision asks to edit again', () => {
    expect(fleetErrorText(new BackendError('server', 'stale', 'stale'), 'ja')).toMatch(/他で変更されました/);
    expect(fleetErrorText(new BackendError('server', 'the file changed', 'stale'), 'en')).toMatch(/changed meanwhile.*\(the file changed\)/);
  });
  it('a plan change by an operator names the admin', () => {
    const e = new BackendError('server', 'changing a plan or a contract needs an admin token', 'forbidden');
    expect(fleetErrorText(e, 'ja')).toMatch(/管理者 \(admin\)/);
    expect(fleetErrorText(new BackendError('server', 'viewer', 'forbidden'), 'ja')).toMatch(/閲覧専用/);
  });
});

describe('sending an edit', () => {
  const source = { revision: 'r2', customers: [CUSTOMER], servers: [SERVER] };
  const edit: FleetEdit = { op: 'remove_server', label: 'web01' };
  it('answers the reload’s summary', async () => {
    const sent: unknown[] = [];
    const backend = {
      editFleet: async (req: unknown) => (sent.push(req), { revision: 'r3', summary: 'removed web01' }),
      fleetSource: async () => source,
    };
    expect(await sendEdit(backend, 'r1', edit, 'ja')).toEqual({ done: 'removed web01' });
    expect(sent).toEqual([{ revision: 'r1', edit }]);
  });
  it('a stale revision reads the file again', async () => {
    const backend = {
      editFleet: async () => {
        throw new BackendError('server', 'changed', 'stale');
      },
      fleetSource: async () => source,
    };
    const sent = await sendEdit(backend, 'r1', edit, 'en');
    expect(sent).toMatchObject({ fresh: source });
    expect('error' in sent && sent.error).toMatch(/changed meanwhile/);
  });
  it('any other refusal leaves the source as it was', async () => {
    const backend = {
      editFleet: async () => {
        throw new BackendError('server', 'fleet.toml:3:7: bad', 'invalid');
      },
      fleetSource: async () => {
        throw new Error('not asked');
      },
    };
    expect(await sendEdit(backend, 'r1', edit, 'ja')).toEqual({ error: 'fleet.toml:3:7: bad', fresh: null });
  });
});
