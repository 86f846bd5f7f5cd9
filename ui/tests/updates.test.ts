import { describe, expect, it } from 'vitest';
import { BackendError, type BackupRun, type PendingUpdate, type ServerView, type UpdatesView } from '../src/lib/backend/types';
import {
  ageText, applyLines, backupAgeText, chosenPackages, classText, eolText, fleetRows, fromJstInput, groupRows, listText,
  newestBackup, reasonText, rowKey, runningText, runStateText, severityClass, severityMark, severityRank, severityText,
  sourceText, toJstInput, updateErrorText, updatesBadge,
} from '../src/lib/model/updates';
import { choose, operatorHref, updatesHref } from '../src/lib/backend';

const view = (patch: Partial<UpdatesView> = {}): UpdatesView => ({
  code: 'included', cms: false, count: 0, security: 0, severity: '', eol_os: null, eol_date: null, reboot_needed: false,
  checked_at: '2026-12-02T01:00:00Z', error: null, notes: '', oldest_since: null, planned_at: null, overdue: false, running: null,
  ...patch,
});

const row = (patch: Partial<PendingUpdate>): PendingUpdate => ({
  host: 'web01', source: 'os', site: '', package: 'p', installed: '1', candidate: '2', advisory: '', severity: '',
  class: 'security', since: '2026-12-01T00:00:00Z', ...patch,
});

const server = (label: string, updates: UpdatesView | null): ServerView =>
  ({ label, customer: 'c1', customer_name: 'サンプル', plan: '150', updates }) as unknown as ServerView;

describe('severity, as the package managers name it (contract §8)', () => {
  it('ranks, names and marks each, never by colour alone', () => {
    expect(['critical', 'important', 'moderate', 'low', '', 'bogus'].map(severityRank)).toEqual([4, 3, 2, 1, 0, 0]);
    expect(severityText('critical', 'ja')).toBe('緊急');
    expect(severityText('important', 'en')).toBe('important');
    expect(severityText('', 'ja')).toBe('—');
    expect(severityText('unknown-x', 'en')).toBe('unknown-x');
    expect(['critical', 'important', 'moderate', 'low'].map((s) => severityMark(s, 'en'))).toEqual(['C', 'I', 'M', 'L']);
    expect(['critical', 'important', 'moderate', 'low'].map((s) => severityMark(s, 'ja'))).toEqual(['緊', '重', '中', '低']);
    expect(severityMark('', 'ja')).toBe('');
    expect(severityClass('moderate')).toBe('sev-moderate');
    expect(severityClass('')).toBe('sev-none');
    expect(severityClass('x" onclick')).toBe('sev-none');
  });
});

describe("the tile's badges", () => {
  it('shows pending updates only where the engine says the NOC handles them', () => {
    const b = updatesBadge(view({ count: 12, security: 10, severity: 'critical' }), 'ja');
    expect(b).toMatchObject({ text: '更新 12', mark: '緊', count: 12, severity: 'critical', overdue: false });
    expect(b?.title).toContain('セキュリティ 10 件');
    expect(b?.title).toContain('緊急');
    expect(updatesBadge(view({ count: 3, severity: 'low', overdue: true }), 'en')).toMatchObject({ text: 'upd 3', mark: 'L', overdue: true });
    expect(updatesBadge(view({ count: 3, overdue: true }), 'en')?.title).toContain('overdue');
    expect(updatesBadge(view({ count: 0 }), 'ja')).toBeNull();
    expect(updatesBadge(view({ code: 'not_included', count: 5 }), 'ja')).toBeNull();
    expect(updatesBadge(null, 'ja')).toBeNull();
    expect(updatesBadge(undefined, 'en')).toBeNull();
  });
  it('says which OS is past its end of life, and since when', () => {
    expect(eolText(view({ eol_os: 'CentOS 7', eol_date: '2024-06-30' }), 'ja')).toBe('CentOS 7 はサポートが終了しています（サポート終了日 2024-06-30）');
    expect(eolText(view({ eol_os: 'CentOS 6' }), 'en')).toBe('CentOS 6 is past its end of life');
    expect(eolText(view(), 'ja')).toBeNull();
    expect(eolText(null, 'ja')).toBeNull();
  });
});

describe("the engine's codes in words", () => {
  it('says why the NOC does not handle a server', () => {
    expect(reasonText('included', 'ja')).toBe('');
    expect(reasonText('not_included', 'ja')).toBe('セキュリティアップデートはプランに含まれません');
    expect(reasonText('no_access', 'en')).toContain('No SSH access');
    expect(reasonText('unsupported_os', 'ja')).toContain('OS');
    expect(reasonText('new_code', 'ja')).toBe('new_code');
  });
  it('names jobs, sources, classes and states', () => {
    expect(runningText('detect', 'ja')).toBe('更新を確認中');
    expect(runningText('apply', 'en')).toBe('Applying updates');
    expect(runningText(null, 'ja')).toBe('');
    expect(sourceText('wordpress-plugin', 'ja')).toBe('プラグイン');
    expect(sourceText('os', 'en')).toBe('OS');
    expect(classText('security', 'ja')).toBe('セキュリティ');
    expect(classText('unclassified', 'en')).toBe('unclassified');
    expect(runStateText('ok', 'ja')).toBe('完了');
    expect(runStateText('interrupted', 'en')).toBe('interrupted');
    expect(runStateText('weird', 'en')).toBe('weird');
  });
});

describe('the pending rows of a server', () => {
  const rows = [
    row({ package: 'tzdata', severity: '', class: 'unclassified' }),
    row({ package: 'sudo', severity: 'critical' }),
    row({ package: 'kernel', severity: 'important' }),
    row({ package: 'bind-libs', severity: 'important' }),
    row({ source: 'wordpress-plugin', site: '/srv/www', package: 'akismet', severity: '', class: 'unclassified' }),
    row({ source: 'wordpress-core', site: '/srv/www', package: 'wordpress', severity: '' }),
    row({ source: 'wordpress-plugin', site: '/srv/blog', package: 'akismet' }),
  ];
  it('lists the OS first, then each site, most severe first', () => {
    const g = groupRows(rows);
    expect(g.map((x) => x.site)).toEqual(['', '/srv/blog', '/srv/www']);
    expect(g[0].rows.map((r) => r.package)).toEqual(['sudo', 'bind-libs', 'kernel', 'tzdata']);
    expect(g[2].rows.map((r) => r.package)).toEqual(['wordpress', 'akismet']);
    expect(groupRows([])).toEqual([]);
  });
  it('sends the names chosen of the kind applied (none chosen: all of it)', () => {
    const chosen = new Set([rowKey(rows[1]), rowKey(rows[4]), rowKey(rows[6])]);
    expect(chosenPackages(rows, chosen, false)).toEqual(['sudo']);
    // The same plugin in two sites is one name.
    expect(chosenPackages(rows, chosen, true)).toEqual(['akismet']);
    expect(chosenPackages(rows, new Set(), false)).toEqual([]);
    expect(rowKey(rows[4])).not.toBe(rowKey(rows[6]));
  });
});

describe('the confirmation of an apply', () => {
  const now = Date.parse('2026-12-02T05:00:00Z');
  const run = (id: number, state: string, finished: string | null): BackupRun =>
    ({ id, state, started_at: '2026-12-01T00:00:00Z', finished_at: finished }) as unknown as BackupRun;
  it("tells the newest good backup's age, or that there is none", () => {
    const runs = [run(9, 'failed', '2026-12-02T04:00:00Z'), run(8, 'ok', '2026-12-02T02:00:00Z'), run(7, 'ok', '2026-12-01T02:00:00Z')];
    expect(newestBackup(runs)?.id).toBe(8);
    expect(backupAgeText(runs, now, 'ja')).toBe('最新のバックアップ: 3時間前（世代 #8）');
    expect(backupAgeText(runs, now, 'en')).toBe('Latest backup: 3 h ago (generation #8)');
    expect(backupAgeText([run(1, 'failed', null)], now, 'ja')).toBe('最新のバックアップ: バックアップなし');
    expect(backupAgeText([], now, 'en')).toBe('Latest backup: no backup');
    expect(backupAgeText(null, now, 'ja')).toContain('確認できません');
  });
  it('lists what is applied, says the server is paused, and the backup line', () => {
    const some = applyLines('web01', false, ['sudo', 'kernel'], 7, 'B', 'ja');
    expect(some[0]).toBe('web01 に次の 2 件のOS のアップデートを適用します: sudo, kernel');
    expect(some[1]).toContain('一時停止');
    expect(some[2]).toBe('B');
    const all = applyLines('web01', true, [], 3, 'B', 'en');
    expect(all[0]).toBe('All pending CMS (WordPress) updates of web01 (3) will be applied.');
    expect(all[1]).toContain('paused');
    expect(listText(['a', 'b', 'c'], 'ja', 2)).toBe('a, b ほか 1 件');
    expect(listText(['a', 'b', 'c'], 'en', 2)).toBe('a, b and 1 more');
  });
  it("words an update job's busy refusal as such, others as any refusal", () => {
    expect(updateErrorText(new BackendError('server', 'an apply of web01 is running', 'busy'), 'ja')).toBe(
      'このサーバーの更新ジョブが実行中です (an apply of web01 is running)',
    );
    expect(updateErrorText(new BackendError('server', 'not_included', 'not_included'), 'ja')).toContain('契約に含まれていません');
  });
});

describe('the fleet-wide list', () => {
  it('keeps the servers with something to do, most pending first, then the oldest pending', () => {
    const list = [
      server('a', view({ count: 3, oldest_since: '2026-11-20T00:00:00Z' })),
      server('b', view({ count: 12, oldest_since: '2026-11-28T00:00:00Z' })),
      server('c', view({ count: 3, oldest_since: '2026-11-10T00:00:00Z' })),
      server('d', view({ count: 0 })),
      server('e', view({ code: 'not_included', count: 0 })),
      server('f', view({ count: 0, error: 'ssh: timeout' })),
      server('g', view({ code: 'not_included', eol_os: 'CentOS 7' })),
      server('h', null),
      server('i', view({ count: 3 })),
    ];
    expect(fleetRows(list).map((s) => s.label)).toEqual(['b', 'c', 'a', 'i', 'f', 'g']);
    expect(fleetRows(list, true).map((s) => s.label)).toEqual(['b', 'c', 'a', 'i', 'd', 'f', 'e', 'g']);
  });
  it('shows ages in the console words', () => {
    const now = Date.parse('2026-12-02T00:00:00Z');
    expect(ageText('2026-11-29T00:00:00Z', now, 'ja')).toBe('3日');
    expect(ageText('2026-12-01T21:00:00Z', now, 'en')).toBe('3 h');
    expect(ageText(null, now, 'ja')).toBe('');
  });
});

describe('the planned date in Japan time', () => {
  it('reads and writes datetime-local values as JST', () => {
    expect(toJstInput('2026-12-04T01:00:00Z')).toBe('2026-12-04T10:00');
    expect(toJstInput('2026-12-04T16:30:00Z')).toBe('2026-12-05T01:30');
    expect(toJstInput(null)).toBe('');
    expect(fromJstInput('2026-12-04T10:00')).toBe('2026-12-04T01:00:00Z');
    expect(fromJstInput('2026-12-05T01:30')).toBe('2026-12-04T16:30:00Z');
    expect(fromJstInput('')).toBeNull();
    expect(fromJstInput('tomorrow')).toBeNull();
  });
});

describe('the updates page has an address', () => {
  it('is chosen by /updates or ?view=updates, linked from the console and back', () => {
    expect(choose('http://127.0.0.1:8080/updates', false, 't').updates).toBe(true);
    expect(choose('http://127.0.0.1:8080/?view=updates', false, 't').updates).toBe(true);
    expect(choose('http://127.0.0.1:8080/', false, 't').updates).toBe(false);
    expect(choose('http://127.0.0.1:8080/audit', false, 't').updates).toBe(false);
    expect(updatesHref('http://127.0.0.1:8080/?open=web01')).toBe('/updates');
    expect(updatesHref('http://127.0.0.1:5173/?fake=50')).toBe('/?fake=50&view=updates');
    expect(operatorHref('http://127.0.0.1:8080/updates')).toBe('/');
  });
});
