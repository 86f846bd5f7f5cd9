import { describe, expect, it } from 'vitest';
import {
  actionsFor, addMonths, autoSendAt, countReports, defaultMonth, isOverdue, jstMonth, monthLabel, overdueFrom,
  recentMonths, rowFlag, sendAllTargets, sortReports,
} from '../src/lib/model/reports';
import { FakeBackend, makeFleet, makeReports } from '../src/lib/backend/fake';
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
  it('follows the engine rule for overdue (schedule.rs is_overdue)', () => {
    expect(isOverdue('2026-10', 'draft', at('2026-11-09T14:59:59Z'))).toBe(false);
    expect(isOverdue('2026-10', 'draft', at('2026-11-09T15:00:00Z'))).toBe(true);
    expect(isOverdue('2026-10', 'held', at('2026-12-01T00:00:00Z'))).toBe(true);
    expect(isOverdue('2026-10', 'sent', at('2026-12-01T00:00:00Z'))).toBe(false);
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

describe('fake reports', () => {
  it('has drafts of the last two months, one overdue, after the 10th', () => {
    const now = at('2026-11-25T12:00:00Z');
    const rows = makeReports(makeFleet(60), now);
    const oct = rows.filter((r) => r.month === '2026-10');
    expect(oct.length).toBeGreaterThanOrEqual(3);
    expect(oct.some((r) => r.state === 'held')).toBe(true);
    expect(oct.some((r) => r.state === 'draft')).toBe(true);
    expect(oct.some((r) => r.state === 'sent' && r.sent_by === 'auto')).toBe(true);
    expect(rows.filter((r) => r.month === '2026-10' && isOverdue(r.month, r.state, now)).length).toBeGreaterThanOrEqual(1);
    // Before the automatic send: mostly drafts, nothing of last month overdue, the older held one is.
    const early = at('2026-11-05T00:00:00Z');
    const rows2 = makeReports(makeFleet(60), early);
    expect(rows2.filter((r) => r.month === '2026-10' && isOverdue(r.month, r.state, early))).toEqual([]);
    expect(rows2.filter((r) => r.month === '2026-09' && isOverdue(r.month, r.state, early)).length).toBe(1);
  });
  it('lists with overdue, acts like the engine (403, 409, 400)', async () => {
    const b = new FakeBackend(60, { quiet: true });
    const month = defaultMonth(Date.now());
    const list = await b.reports(month);
    expect(list.length).toBeGreaterThan(0);
    expect(list.every((r) => r.month === month)).toBe(true);
    const draft = list.find((r) => r.state === 'draft')!;
    await b.reportAction(draft.id, 'hold');
    expect((await b.reports(month)).find((r) => r.id === draft.id)?.state).toBe('held');
    await expect(b.reportAction(draft.id, 'hold')).rejects.toMatchObject({ detail: 'conflict' });
    await b.reportAction(draft.id, 'release');
    await b.reportAction(draft.id, 'send');
    const sent = (await b.reports(month)).find((r) => r.id === draft.id)!;
    expect(sent).toMatchObject({ state: 'sent', sent_by: 'yamada', overdue: false });
    await expect(b.reports('2026-13')).rejects.toMatchObject({ detail: 'invalid' });
    expect(await b.reportPreview(sent.id)).toContain('月次監視レポート');
    const viewer = new FakeBackend(60, { quiet: true, role: 'viewer' });
    const e = await viewer.reportSendAll(month).catch((x) => x);
    expect(e).toBeInstanceOf(BackendError);
    expect(e.detail).toBe('forbidden');
  });
  it('send-all sends the drafts and leaves the held ones', async () => {
    const b = new FakeBackend(60, { quiet: true });
    const month = defaultMonth(Date.now());
    const before = await b.reports(month);
    const drafts = before.filter((r) => r.state === 'draft').map((r) => r.id);
    const res = await b.reportSendAll(month);
    expect(res.map((r) => r.report)).toEqual(drafts);
    const after = await b.reports(month);
    expect(after.filter((r) => r.state === 'draft')).toEqual([]);
    expect(after.filter((r) => r.state === 'held').length).toBe(before.filter((r) => r.state === 'held').length);
  });
  it('saves files through the backend', async () => {
    const b = new FakeBackend(12, { quiet: true });
    expect(await b.saveFile('x.csv', 'a,b\r\n')).toBe('x.csv');
    expect(b.lastSaved).toEqual({ name: 'x.csv', text: 'a,b\r\n' });
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
