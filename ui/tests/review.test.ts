import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BOM, bar, csvField, csvLine, customerLabel, dateComplete, dateProblem, exportName, filterArgs, filterToQuery, jstDay, jstDayStart,
  normDate, operatorsOf, stepGroup, stepLabel, ticks, timeline, timelineRange, toCsv, toJson, MIN_BAR,
} from '../src/lib/model/review';
import { answer, exchange, feed, names, replay, snapshot } from './replay';
import { choose, operatorHref, reviewHref } from '../src/lib/backend';
import * as normalize from '../src/lib/backend/normalize';
import { BackendError, type ReviewIncident } from '../src/lib/backend/types';
import { takenBy } from '../src/lib/model/tile';

const inc = (p: Partial<ReviewIncident>): ReviewIncident => ({
  id: 1, host: 'web01', customer: 'c1001', customer_name: 'サンプル株式会社', check: 'http', level: 4, trigger: 'web01 HTTP サービスダウン',
  opened_at: '2026-05-01T00:00:00.000Z', closed_at: '2026-05-01T01:00:00.000Z', duration_secs: 3600, story: [], ...p,
});

describe('review filter → request', () => {
  it('leaves empty fields out and trims', () => {
    expect(filterToQuery({})).toBe('');
    expect(filterToQuery({ server: '  ', customer: '', text: ' ', operator: undefined })).toBe('');
    expect(filterToQuery({ server: ' web01 ', level: 5, from: '2026-05-01', to: '2026-05-31', open: true, limit: 500 }))
      .toBe('server=web01&level=5&from=2026-05-01&to=2026-05-31&open=true&limit=500');
  });
  it('keeps the API order and encodes Japanese and symbols', () => {
    const q = filterToQuery({ text: '再起動 & "停止"', customer: 'c1001', check: 'custom:app', operator: 'yamada' });
    expect(q).toBe('customer=c1001&check=custom%3Aapp&operator=yamada&text=%E5%86%8D%E8%B5%B7%E5%8B%95+%26+%22%E5%81%9C%E6%AD%A2%22');
    expect(new URLSearchParams(q).get('text')).toBe('再起動 & "停止"');
  });
  it('drops levels and limits that mean nothing; open=false stays (all incidents)', () => {
    expect(filterArgs({ level: 7, limit: 0 })).toEqual({});
    expect(filterArgs({ level: 2, limit: 12.7, open: false })).toEqual({ level: 2, limit: 12, open: false });
  });
  it('checks the dates before asking', () => {
    expect(dateProblem({ from: '2026-05-01', to: '2026-05-31' })).toBe('');
    expect(dateProblem({ from: '2026-5-1' })).toBe('from');
    expect(dateProblem({ to: '2026-02-30' })).toBe('to');
    expect(dateProblem({ from: '2026-06-01', to: '2026-05-31' })).toBe('order');
  });
  it('tidies what is typed into a date field toward YYYY-MM-DD, whatever the browser locale', () => {
    expect(normDate(' 2026-05-01 ')).toBe('2026-05-01');
    expect(normDate('2026/5/1')).toBe('2026-05-01');
    expect(normDate('２０２６－０５－０１')).toBe('2026-05-01');
    expect(normDate('2026.12.31')).toBe('2026-12-31');
    expect(normDate('05/01/2026')).toBe('05-01-2026'); // an mm/dd/yyyy stays wrong …
    expect(dateProblem({ from: normDate('05/01/2026') })).toBe('from'); // … and is refused
    expect(normDate(undefined)).toBe('');
    expect(dateComplete('')).toBe(true);
    expect(dateComplete('2026-05-01')).toBe(true);
    expect(dateComplete('2026-05-0')).toBe(false);
    expect(dateComplete('2026-02-30')).toBe(false);
  });
  it('reads days in Japan time', () => {
    expect(new Date(jstDayStart('2026-05-01')).toISOString()).toBe('2026-04-30T15:00:00.000Z');
    expect(Number.isNaN(jstDayStart('2026-13-01'))).toBe(true);
    expect(jstDay(Date.parse('2026-04-30T15:00:00Z'))).toBe('2026-05-01');
    expect(jstDay(Date.parse('2026-04-30T14:59:59Z'))).toBe('2026-04-30');
  });
});

describe('CSV export', () => {
  it('quotes commas, quotes and line breaks (RFC 4180) and keeps Japanese as is', () => {
    expect(csvField('web01 ping 疎通不可')).toBe('web01 ping 疎通不可');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line1\nline2')).toBe('"line1\nline2"');
    expect(csvField('cr\r\nlf')).toBe('"cr\r\nlf"');
    expect(csvField('顧客に連絡, "再起動"待ち')).toBe('"顧客に連絡, ""再起動""待ち"');
    expect(csvField(null)).toBe('');
    expect(csvField(42)).toBe('42');
  });
  it('defuses spreadsheet formulas', () => {
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField('+1')).toBe("'+1");
    expect(csvField('@SUM')).toBe("'@SUM");
    expect(csvLine(['-', 'ok'])).toBe("'-,ok");
  });
  it('writes a BOM, a header row, one CRLF row per incident with its story in one field', () => {
    const list = [
      inc({
        id: 7, trigger: 'web01 HTTP "503", 停止',
        story: [
          { at: '2026-05-01T00:00:00.000Z', kind: 'incident_opened', label: '検知（障害発生）', detail: 'HTTP/1.1 503', actor: null },
          { at: '2026-05-01T00:05:00.000Z', kind: 'acknowledged', label: '確認（担当者）', detail: 'by yamada: 顧客に連絡', actor: null },
        ],
      }),
      inc({ id: 8, closed_at: null, duration_secs: null, opened_at: '2026-05-01T02:00:00.000Z' }),
    ];
    const csv = toCsv(list, 'ja', () => 'the live fleet is not asked', Date.parse('2026-05-01T02:30:00Z'));
    expect(csv.startsWith(BOM)).toBe(true);
    const body = csv.slice(1);
    expect(body.split('\r\n')[0]).toBe('ID,サーバー,顧客,チェック,レベル,障害名,発生 (JST),復旧 (JST),継続 (秒),状態,対応者,経過');
    expect(body).toContain('7,web01,サンプル株式会社,http,4,"web01 HTTP ""503"", 停止",2026/05/01 09:00:00,2026/05/01 10:00:00,3600,復旧済み,yamada,');
    expect(body).toContain('"2026/05/01 09:00:00 検知（障害発生）: HTTP/1.1 503\n2026/05/01 09:05:00 確認（担当者）: by yamada: 顧客に連絡"');
    expect(body).toContain('8,web01,サンプル株式会社,http,4,web01 HTTP サービスダウン,2026/05/01 11:00:00,,1800,発生中,,');
    expect(body.endsWith('\r\n')).toBe(true);
    // Three records: header + 2 (the story's \n stays inside its quoted field).
    expect(body.split('\r\n').filter(Boolean)).toHaveLength(3);
  });
  it('names the customer from the incident: its name, else its id, else the live fleet', () => {
    const fleet = (h: string) => (h === 'web01' ? '旧名株式会社' : '');
    expect(customerLabel(inc({}), fleet)).toBe('サンプル株式会社');
    expect(customerLabel(inc({ customer_name: null }), fleet)).toBe('c1001');
    expect(customerLabel(inc({ customer: null, customer_name: null }), fleet)).toBe('旧名株式会社');
    expect(customerLabel(inc({ customer: null, customer_name: null }))).toBe('');
    const csv = toCsv(
      [inc({ id: 1 }), inc({ id: 2, customer_name: null }), inc({ id: 3, customer: null, customer_name: null }), inc({ id: 4, host: 'x', customer: null, customer_name: null })],
      'ja', fleet,
    );
    const rows = csv.slice(1).split('\r\n').slice(1, 5).map((l) => l.split(',').slice(0, 3).join(','));
    expect(rows).toEqual(['1,web01,サンプル株式会社', '2,web01,c1001', '3,web01,旧名株式会社', '4,x,']);
  });
  it('has an English header and English step names', () => {
    const csv = toCsv([inc({ story: [{ at: '2026-05-01T00:00:00Z', kind: 'mail_sent', label: 'メール送信済み', detail: '', actor: null }] })], 'en');
    expect(csv.slice(1).split('\r\n')[0]).toMatch(/^ID,Server,Customer,Check,Level,Trigger,Opened \(JST\)/);
    expect(csv).toContain('Mail sent');
  });
  it('exports JSON with the filter and a dated file name (JST)', () => {
    const j = JSON.parse(toJson([inc({})], { server: 'web01', text: '' }, '2026-05-01T00:00:00Z'));
    expect(j).toMatchObject({
      exported_at: '2026-05-01T00:00:00Z', filter: { server: 'web01' },
      incidents: [{ id: 1, customer: 'c1001', customer_name: 'サンプル株式会社' }],
    });
    expect(exportName('csv', Date.parse('2026-05-01T15:04:00Z'))).toBe('anshin-review-20260502-0004.csv');
  });
});

describe('timeline geometry', () => {
  const day = { from: Date.parse('2026-05-01T00:00:00Z'), to: Date.parse('2026-05-02T00:00:00Z') };
  const now = Date.parse('2026-05-03T00:00:00Z');
  it('places a bar from opened to closed in percent of the range', () => {
    const b = bar(inc({ opened_at: '2026-05-01T06:00:00Z', closed_at: '2026-05-01T12:00:00Z' }), day, now)!;
    expect(b.x).toBeCloseTo(25);
    expect(b.w).toBeCloseTo(25);
    expect(b).toMatchObject({ open: false, cutStart: false, cutEnd: false });
  });
  it('cuts bars at the edges, runs open ones to now, and leaves out what is outside', () => {
    const early = bar(inc({ opened_at: '2026-04-30T18:00:00Z', closed_at: '2026-05-01T06:00:00Z' }), day, now)!;
    expect(early.x).toBe(0);
    expect(early.w).toBeCloseTo(25);
    expect(early.cutStart).toBe(true);
    const open = bar(inc({ opened_at: '2026-05-01T18:00:00Z', closed_at: null }), day, now)!;
    expect(open.x).toBeCloseTo(75);
    expect(open.w).toBeCloseTo(25);
    expect(open).toMatchObject({ open: true, cutEnd: true });
    expect(bar(inc({ opened_at: '2026-05-02T01:00:00Z', closed_at: '2026-05-02T02:00:00Z' }), day, now)).toBeNull();
    expect(bar(inc({ opened_at: '2026-04-29T01:00:00Z', closed_at: '2026-04-29T02:00:00Z' }), day, now)).toBeNull();
    expect(bar(inc({ opened_at: 'garbage' }), day, now)).toBeNull();
  });
  it('keeps a short incident visible and inside the track', () => {
    const b = bar(inc({ opened_at: '2026-05-01T23:59:50Z', closed_at: '2026-05-02T00:00:00Z' }), day, now)!;
    expect(b.w).toBe(MIN_BAR);
    expect(b.x + b.w).toBeLessThanOrEqual(100);
  });
  it('makes a row per server, worst first, bars in time order', () => {
    const rows = timeline(
      [
        inc({ id: 1, host: 'web10', level: 4, opened_at: '2026-05-01T08:00:00Z' }),
        inc({ id: 2, host: 'web2', level: 4, opened_at: '2026-05-01T01:00:00Z' }),
        inc({ id: 3, host: 'web10', level: 2, opened_at: '2026-05-01T02:00:00Z' }),
        inc({ id: 4, host: 'db1', level: 5, opened_at: '2026-05-01T03:00:00Z' }),
      ],
      day,
      now,
    );
    expect(rows.map((r) => r.host)).toEqual(['db1', 'web2', 'web10']);
    expect(rows[2].bars.map((b) => b.id)).toEqual([3, 1]);
    expect(rows[2].worst).toBe(4);
  });
  it('takes the range from the filter days (JST), else from the data', () => {
    const r = timelineRange([], { from: '2026-05-01', to: '2026-05-01' }, now);
    expect(new Date(r.from).toISOString()).toBe('2026-04-30T15:00:00.000Z');
    expect(r.to - r.from).toBe(86_400_000);
    const d = timelineRange([inc({})], {}, now);
    expect(d.from).toBeLessThan(Date.parse('2026-05-01T00:00:00Z'));
    expect(d.to).toBeGreaterThan(Date.parse('2026-05-01T01:00:00Z'));
    const empty = timelineRange([], {}, now);
    expect(empty.from).toBeLessThan(now - 86_000_000);
    expect(empty.to).toBeGreaterThanOrEqual(now);
  });
  it('puts axis ticks on round JST times', () => {
    const t = ticks({ from: Date.parse('2026-04-30T15:00:00Z'), to: Date.parse('2026-05-07T15:00:00Z') }, 10);
    expect(t[0]).toMatchObject({ x: 0, label: '5/1', day: true });
    expect(t).toHaveLength(8);
    const h = ticks({ from: Date.parse('2026-04-30T15:00:00Z'), to: Date.parse('2026-05-01T03:00:00Z') }, 10);
    expect(h.map((x) => x.label)).toEqual(['5/1 00:00', '02:00', '04:00', '06:00', '08:00', '10:00', '12:00']);
  });
});

describe('story', () => {
  it('names and groups steps, finds the operators', () => {
    const s = { at: '', kind: 'acknowledged', label: '確認（担当者）', detail: 'by yamada: 電話中', actor: null };
    expect(stepLabel(s, 'ja')).toBe('確認（担当者）');
    expect(stepLabel(s, 'en')).toBe('Taken (operator)');
    expect(stepLabel({ ...s, kind: 'new_kind', label: 'new_kind' }, 'en')).toBe('new_kind');
    expect(['incident_opened', 'mail_sent', 'call_logged', 'recovery_started', 'incident_closed'].map(stepGroup))
      .toEqual(['detect', 'mail', 'call', 'recovery', 'closed']);
    const i = inc({
      story: [
        { at: '', kind: 'incident_opened', label: '', detail: 'connection refused by 10.0.0.1:80', actor: null },
        s,
        { at: '', kind: 'call_logged', label: '', detail: 'by suzuki: 03-0000-0000', actor: null },
        { at: '', kind: 'note_added', label: '', detail: 'by yamada', actor: null },
      ],
    });
    expect(operatorsOf(i)).toEqual(['yamada', 'suzuki']);
  });
});

describe('the engine\'s review and acknowledge', () => {
  afterEach(() => vi.unstubAllGlobals());
  const id = () => answer<{ incident: number }>('acknowledge').incident;
  it('has whole stories, newest first, named as the UI names them', () => {
    const rows = answer<ReviewIncident[]>('review');
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.map((i) => i.id)).toEqual([...rows.map((i) => i.id)].sort((a, b) => b - a));
    const closed = rows.find((i) => i.id === id())!;
    expect(closed.closed_at).not.toBeNull();
    expect(closed.story.map((x) => x.kind)).toEqual(expect.arrayContaining(['incident_opened', 'acknowledged', 'call_logged', 'incident_closed']));
    for (const st of rows.flatMap((i) => i.story)) {
      // Every step comes named in Japanese; the review shows the engine's name, and the UI has
      // its own (Japanese and English) for a log that carries only the kind.
      expect(st.label).toMatch(/[^\x00-\x7f]/);
      expect(stepLabel(st, 'ja')).toBe(st.label);
      expect(stepLabel({ ...st, label: st.kind }, 'ja')).not.toBe(st.kind);
      expect(stepLabel(st, 'en')).not.toBe(st.kind);
    }
  });
  it('names the customer of every incident, as the fleet does', () => {
    const byLabel = new Map(snapshot.servers.map((s) => [s.label, s]));
    for (const i of answer<ReviewIncident[]>('review')) {
      const s = byLabel.get(i.host)!;
      expect([i.host, i.customer, i.customer_name]).toEqual([i.host, s.customer, s.customer_name]);
    }
  });
  it('asks for a filter as the engine understands it, and the engine filters as the UI shows', async () => {
    const { backend, missed } = replay('operator', ['review_server', 'review_check_level', 'review_customer_open', 'review_days', 'review_operator', 'review_text']);
    const server = await backend.review({ server: 'web01' });
    expect(server.length).toBeGreaterThan(0);
    expect(server.every((i) => i.host === 'web01')).toBe(true);
    const lvl = await backend.review({ level: 4, check: 'http' });
    expect(lvl.length).toBeGreaterThan(0);
    expect(lvl.every((i) => i.level === 4 && i.check === 'http')).toBe(true);
    const mine = new Set(snapshot.servers.filter((s) => s.customer === 'c1003').map((s) => s.label));
    expect((await backend.review({ customer: 'c1003', open: true })).every((i) => mine.has(i.host) && i.closed_at === null)).toBe(true);
    const day = new URL(exchange('review_days').path, 'http://x').searchParams.get('from')!;
    expect((await backend.review({ from: day, to: day })).length).toBeGreaterThan(0);
    const yamada = await backend.review({ operator: names.operator });
    expect(yamada.map((i) => i.id)).toContain(id());
    // The UI finds the same operator in every incident the engine found by operator.
    expect(yamada.every((i) => operatorsOf(i).includes(names.operator))).toBe(true);
    expect((await backend.review({ text: '折り返し' })).map((i) => i.id)).toContain(id());
    expect(missed).toEqual([]);
  });
  it('answers a bad date with an error (400)', async () => {
    const { backend } = replay('operator', ['review_bad_date']);
    const e = await backend.review({ from: '2026-02-31' }).catch((x) => x);
    expect(e).toBeInstanceOf(BackendError);
    expect(e.detail).toBe('invalid');
  });
  it('acknowledges once; another operator is refused; viewers are refused', async () => {
    const me = replay('operator', ['acknowledge', 'acknowledge_again', 'acknowledge_unknown']);
    const a = await me.backend.acknowledge(id(), ' 確認します ');
    expect(a).toMatchObject({ incident: id(), host: 'web01', check: 'http', by: names.operator });
    expect(await me.backend.acknowledge(id(), '')).toMatchObject({ incident: id(), by: names.operator });
    await expect(me.backend.acknowledge(999_999, '')).rejects.toMatchObject({ detail: 'not_found' });
    expect(me.missed).toEqual([]);
    vi.unstubAllGlobals();
    const other = replay('other', ['acknowledge_taken']);
    const taken = await other.backend.acknowledge(id(), '').catch((x) => x);
    expect(taken).toMatchObject({ detail: 'taken' });
    expect(taken.message).toContain(names.operator);
    vi.unstubAllGlobals();
    await expect(replay('viewer', ['acknowledge_viewer']).backend.acknowledge(id(), '')).rejects.toMatchObject({ detail: 'forbidden' });
    // The feed: the tile stops blinking and says who took it.
    const before = [snapshot, ...feed].flatMap((m) => (m.type === 'event' ? [] : m.servers)).filter((s) => s.label === 'web01' && s.checks.some((c) => c.incident === id()));
    const taken2 = before.find((s) => s.acknowledged)!;
    expect(taken2).toBeDefined();
    expect(takenBy(taken2)).toEqual([names.operator]);
    const story = answer<ReviewIncident[]>('review_server').find((i) => i.id === id())!.story;
    expect(story.find((x) => x.kind === 'acknowledged')).toMatchObject({ actor: names.operator });
  });
});

describe('review routes and wire data', () => {
  it('recognises /review and ?view=review', () => {
    expect(choose('http://127.0.0.1:8080/review', false, 't').review).toBe(true);
    expect(choose('http://127.0.0.1:8080/review/', false, 't').review).toBe(true);
    expect(choose('http://127.0.0.1:8080/?view=review', false, 't').review).toBe(true);
    expect(choose('http://127.0.0.1:8080/', false, 't').review).toBe(false);
    expect(choose('http://127.0.0.1:8080/wall', false, 't').review).toBe(false);
  });
  it('links to the review and back', () => {
    expect(reviewHref('http://127.0.0.1:8080/')).toBe('/review');
    expect(reviewHref('http://127.0.0.1:8080/?open=web01')).toBe('/review');
    expect(reviewHref('http://127.0.0.1:5173/?fake=60&open=web01')).toBe('/?fake=60&view=review');
    expect(operatorHref('http://127.0.0.1:8080/review')).toBe('/');
    expect(operatorHref('http://127.0.0.1:5173/?fake=60&view=review')).toBe('/?fake=60');
  });
  it('fills in the desktop shell\'s app info', () => {
    expect(normalize.appInfo({ mode: 'review', source: 'a.db' })).toMatchObject({ mode: 'review', view: 'review', role: 'operator', name: '' });
    expect(normalize.appInfo({ view: 'wall', role: 'viewer' })).toMatchObject({ mode: 'fleet', view: 'wall', role: 'viewer' });
  });

});
