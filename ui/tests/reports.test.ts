import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  actionsFor, addMonths, autoSendAt, countReports, defaultMonth, jstMonth, monthLabel, overdueFrom,
  recentMonths, rowFlag, sendAllTargets, sortReports,
} from '../src/lib/model/reports';
import { answer, exchange, exchanges, names, replay } from './replay';
import { choose, operatorHref, reportsHref, reviewHref } from '../src/lib/backend';
import { BackendError, type ReportDraft } from '../src/lib/backend/types';
import { SILENCE_LIMIT_MS, Watchdog } from '../src/lib/backend/http';
import { formatMs } from '../src/lib/model/duration';

const at = (s: string) => Date.parse(s);

function row(p: Partial<ReportDraft>): ReportDraft {
  return {
    id: 1, customer: 'c1001', month: '2026-10', state: 'draft', created_at: '2026-10-31T16:00:00Z',
    sent_at: null, sent_by: null, held_by: null, outbox_id: null, customer_name: 'サンプル株式会社', overdue: false,
    ...p,
  };
}

describe('report months (JST)', () => {
  it('opens on the previous month in Japan time', () => {
    // 2026-11-01 00:30 JST is still 2026-10-31 in UTC: the previous month is October already.
    expect(defaultMonth(at('2026-10-31T15:30:00Z'))).toBe('2026-10');
    // 2026-10-31 23:59 JST: still October, so September.
    expect(defaultMonth(at('2026-10-31T14:59:00Z'))).toBe('2026-09');
    // January: December of the year before.
    expect(defaultMonth(at('2027-01-15T03:00:00Z'))).toBe('2026-12');
    expect(defaultMonth(at('2026-12-31T15:00:00Z'))).toBe('2026-12'); // 2027-01-01 00:00 JST
  });
  it('counts months across years', () => {
    expect(addMonths('2026-01', -1)).toBe('2025-12');
    expect(addMonths('2026-12', 1)).toBe('2027-01');
    expect(addMonths('2026-10', -13)).toBe('2025-09');
    expect(jstMonth(at('2026-11-30T15:00:00Z'))).toBe('2026-12');
    expect(recentMonths(at('2026-11-25T12:00:00Z'), 3)).toEqual(['2026-10', '2026-09', '2026-08']);
  });
  it('is due by the end of the 9th and goes out on the 10th 09:00 JST', () => {
    expect(new Date(overdueFrom('2026-10')).toISOString()).toBe('2026-11-09T15:00:00.000Z');
    expect(new Date(autoSendAt('2026-10')).toISOString()).toBe('2026-11-10T00:00:00.000Z');
    expect(new Date(overdueFrom('2026-12')).toISOString()).toBe('2027-01-09T15:00:00.000Z');
  });
  it('names months', () => {
    expect(monthLabel('2026-10', 'ja')).toBe('2026年10月');
    expect(monthLabel('2026-03', 'en')).toBe('Mar 2026');
  });
});

describe('report rows as the panel shows them', () => {
  it('highlights overdue drafts and held reports, never sent ones', () => {
    expect(rowFlag(row({ overdue: true }))).toBe('overdue');
    expect(rowFlag(row({ state: 'held', overdue: true }))).toBe('overdue');
    expect(rowFlag(row({ state: 'sent', overdue: true }))).toBe('sent');
    expect(rowFlag(row({ state: 'held' }))).toBe('held');
    expect(rowFlag(row({}))).toBe('draft');
  });
  it('offers send/hold on drafts, send/release on held, nothing on sent', () => {
    expect(actionsFor('draft')).toEqual(['send', 'hold']);
    expect(actionsFor('held')).toEqual(['send', 'release']);
    expect(actionsFor('sent')).toEqual([]);
  });
  it('puts overdue first, then drafts, held, sent', () => {
    const list = [
      row({ id: 1, customer: 'c1004', state: 'sent' }),
      row({ id: 2, customer: 'c1003', state: 'held' }),
      row({ id: 3, customer: 'c1010', state: 'draft' }),
      row({ id: 4, customer: 'c1002', state: 'draft' }),
      row({ id: 5, customer: 'c1009', state: 'held', overdue: true }),
    ];
    expect(sortReports(list).map((r) => r.id)).toEqual([5, 4, 3, 2, 1]);
    expect(countReports(list)).toEqual({ draft: 2, held: 2, sent: 1, overdue: 1 });
  });
  it('sends all drafts of the month only (held ones stay; no month, nothing)', () => {
    const list = [row({ id: 1 }), row({ id: 2, state: 'held' }), row({ id: 3, month: '2026-09' }), row({ id: 4, state: 'sent' })];
    expect(sendAllTargets(list, '2026-10').map((r) => r.id)).toEqual([1]);
    expect(sendAllTargets(list, '')).toEqual([]);
  });
});

describe('the engine\'s reports', () => {
  afterEach(() => vi.unstubAllGlobals());
  const month = () => new URL(exchange('reports_month').path, 'http://x').searchParams.get('month')!;
  it('lists with overdue, acts like the engine (403, 409, 400)', async () => {
    const { backend, missed } = replay('operator', ['reports_month', 'report_hold', 'report_hold_again', 'report_release', 'report_preview', 'reports_bad_month']);
    const list = await backend.reports(month());
    expect(list.length).toBeGreaterThan(0);
    expect(list.every((r) => r.month === month() && typeof r.overdue === 'boolean' && r.customer_name)).toBe(true);
    const hold = exchange('report_hold');
    const id = Number(hold.path.split('/').at(-2));
    await backend.reportAction(id, 'hold');
    const again = await backend.reportAction(id, 'hold').catch((e) => e);
    expect(again).toBeInstanceOf(BackendError);
    expect(again.detail).toBe(answer<{ code: string }>('report_hold_again').code);
    expect(exchange('report_hold_again').status).toBe(409);
    await backend.reportAction(id, 'release');
    const preview = await backend.reportPreview(list[0].id);
    expect(preview).toMatch(/<html|<!doctype/i);
    await expect(backend.reports('2026-13')).rejects.toMatchObject({ detail: 'invalid' });
    expect(missed).toEqual([]);
  });
  it('refuses viewers; send-all sends the drafts and leaves the held ones', async () => {
    const viewer = replay('viewer', ['report_send_all_viewer']);
    const e = await viewer.backend.reportSendAll(month()).catch((x) => x);
    expect(e).toBeInstanceOf(BackendError);
    expect(e.detail).toBe('forbidden');
    vi.unstubAllGlobals();
    const before = answer<ReportDraft[]>('reports_month');
    const held = Number(exchange('report_hold_other').path.split('/').at(-2));
    const { backend, missed } = replay('operator', ['report_hold_other', 'report_send_all', 'reports_after_send']);
    await backend.reportAction(held, 'hold');
    const res = await backend.reportSendAll(month());
    const drafts = before.filter((r) => r.state === 'draft' && r.id !== held).map((r) => r.id);
    expect(drafts.length).toBeGreaterThan(0);
    expect(res.map((r) => r.report).sort()).toEqual(drafts.sort());
    const after = await backend.reports(month());
    expect(after.filter((r) => r.state === 'draft')).toEqual([]);
    expect(after.find((r) => r.id === held)).toMatchObject({ state: 'held', held_by: names.operator });
    expect(after.filter((r) => r.state === 'sent').every((r) => !r.overdue && r.sent_by === names.operator)).toBe(true);
    expect(missed).toEqual([]);
    expect(exchanges.filter((x) => x.name.startsWith('report')).length).toBeGreaterThan(5);
  });
});

describe('links to the reports panel', () => {
  it('recognises /reports and ?view=reports', () => {
    expect(choose('http://127.0.0.1:8080/reports', false, 't').reports).toBe(true);
    expect(choose('http://127.0.0.1:5173/?fake=60&view=reports', false, null).reports).toBe(true);
    expect(choose('http://127.0.0.1:8080/review', false, 't').reports).toBe(false);
  });
  it('goes there and back', () => {
    expect(reportsHref('http://127.0.0.1:8080/?open=web01')).toBe('/reports');
    expect(reportsHref('http://127.0.0.1:5173/?fake=60')).toBe('/?fake=60&view=reports');
    expect(operatorHref('http://127.0.0.1:8080/reports')).toBe('/');
    expect(operatorHref('http://127.0.0.1:5173/?fake=60&view=reports')).toBe('/?fake=60');
    expect(reviewHref('http://127.0.0.1:8080/reports')).toBe('/review');
  });
});

describe('socket watchdog', () => {
  it('expires after 15 s without any message, not before', () => {
    const d = new Watchdog(1_000);
    expect(SILENCE_LIMIT_MS).toBe(15_000);
    expect(d.expired(15_999)).toBe(false);
    expect(d.expired(16_000)).toBe(true);
    d.feed(10_000); // a heartbeat
    expect(d.expired(16_000)).toBe(false);
    expect(d.silence(20_000)).toBe(10_000);
    expect(d.expired(25_000)).toBe(true);
  });
  it('never goes back in time', () => {
    const d = new Watchdog(10_000);
    d.feed(5_000);
    expect(d.silence(12_000)).toBe(2_000);
  });
});

describe('response times', () => {
  it('rounds sensibly', () => {
    expect(formatMs(0.19064799999999998)).toBe('<1 ms');
    expect(formatMs(12.4)).toBe('12 ms');
    expect(formatMs(999.4)).toBe('999 ms');
    expect(formatMs(999.6)).toBe('1.0 s');
    expect(formatMs(1234)).toBe('1.2 s');
    expect(formatMs(15_400)).toBe('15 s');
    expect(formatMs(null)).toBe('—');
    expect(formatMs(Number.NaN)).toBe('—');
  });
});
