//! Security updates in the operator's words (contract §8). Whether the NOC handles a server's
//! updates, what the last detection found, the planned date, whether it is overdue, which OS is
//! past its end of life: all the engine's (`ServerView.updates`, `GET /api/v1/updates`). This
//! names its codes, orders its rows and shows its times. Pure and unit-tested
//! (tests/updates.test.ts).

import { BackendError, type BackupRun, type PendingUpdate, type ServerView, type UpdateRun, type UpdatesView } from '../backend/types';
import { describeError } from './actions';
import { elapsedMs, formatDuration, JST_MS } from './duration';

export type Lang = 'ja' | 'en';

/** The package managers' severity names (Red Hat's scale, as the engine passes them on), highest
 * first, with a one-letter mark for the tile (never colour alone) and the word for the rest. */
const SEVERITY: Record<string, { rank: number; ja: string; en: string; markJa: string; markEn: string }> = {
  critical: { rank: 4, ja: '緊急', en: 'critical', markJa: '緊', markEn: 'C' },
  important: { rank: 3, ja: '重要', en: 'important', markJa: '重', markEn: 'I' },
  moderate: { rank: 2, ja: '中', en: 'moderate', markJa: '中', markEn: 'M' },
  low: { rank: 1, ja: '低', en: 'low', markJa: '低', markEn: 'L' },
};

/** Higher is more severe; 0 for none or a name the console does not know. */
export function severityRank(severity: string | null | undefined): number {
  return SEVERITY[severity ?? '']?.rank ?? 0;
}

/** A severity in words (`緊急`, `important`); none: `—`; an unknown name as sent. */
export function severityText(severity: string | null | undefined, lang: Lang): string {
  const s = SEVERITY[severity ?? ''];
  if (s) return s[lang];
  return severity ? severity : '—';
}

/** The tile's one-letter severity mark (`緊`, `C`); '' for none. */
export function severityMark(severity: string | null | undefined, lang: Lang): string {
  const s = SEVERITY[severity ?? ''];
  if (s) return lang === 'ja' ? s.markJa : s.markEn;
  return severity ? severity.slice(0, 1).toUpperCase() : '';
}

/** The CSS class of a severity (`sev-critical`), `sev-none` for none or unknown. */
export function severityClass(severity: string | null | undefined): string {
  return SEVERITY[severity ?? ''] ? `sev-${severity}` : 'sev-none';
}

/** The tile's updates badge: only where the NOC handles the server's updates and the last
 * detection found some pending. */
export function updatesBadge(
  u: UpdatesView | null | undefined,
  lang: Lang,
): { text: string; mark: string; title: string; count: number; severity: string; overdue: boolean } | null {
  if (!u || u.code !== 'included' || u.count <= 0) return null;
  const ja = lang === 'ja';
  const sev = severityText(u.severity, lang);
  const parts = [
    ja ? `未適用の更新 ${u.count} 件（セキュリティ ${u.security} 件）` : `${u.count} pending updates (${u.security} security)`,
    u.severity ? (ja ? `最高の重要度: ${sev}` : `highest severity: ${sev}`) : '',
    u.overdue ? (ja ? '作業予定日時を過ぎています（期限超過）' : 'past the planned date (overdue)') : '',
  ].filter(Boolean);
  return {
    text: ja ? `更新 ${u.count}` : `upd ${u.count}`,
    mark: severityMark(u.severity, lang),
    title: parts.join(ja ? '。' : '; '),
    count: u.count,
    severity: u.severity,
    overdue: u.overdue,
  };
}

/** The tile's EOL badge's tooltip: the OS and its last supported day; null when not EOL. */
export function eolText(u: Pick<UpdatesView, 'eol_os' | 'eol_date'> | null | undefined, lang: Lang): string | null {
  if (!u?.eol_os) return null;
  const ja = lang === 'ja';
  const date = u.eol_date ? (ja ? `（サポート終了日 ${u.eol_date}）` : ` (end of life ${u.eol_date})`) : '';
  return ja ? `${u.eol_os} はサポートが終了しています${date}` : `${u.eol_os} is past its end of life${date}`;
}

/** Why the NOC does not handle a server's updates, in words ('' when it does). */
export function reasonText(code: string, lang: Lang): string {
  const ja = lang === 'ja';
  switch (code) {
    case 'included':
      return '';
    case 'not_included':
      return ja ? 'セキュリティアップデートはプランに含まれません' : 'Security updates are not included in the plan';
    case 'no_access':
      return ja ? 'SSH アクセスがないため、更新を確認・適用できません' : 'No SSH access: updates cannot be detected or applied';
    case 'unsupported_os':
      return ja ? 'この OS の更新には対応していません' : 'Updates of this OS are not supported';
    default:
      return code;
  }
}

/** The job going on a server now, in words ('' for none). */
export function runningText(running: string | null | undefined, lang: Lang): string {
  const ja = lang === 'ja';
  if (running === 'detect') return ja ? '更新を確認中' : 'Detecting updates';
  if (running === 'apply') return ja ? '更新を適用中' : 'Applying updates';
  return running ? running : '';
}

const SOURCE: Record<string, { ja: string; en: string }> = {
  os: { ja: 'OS', en: 'OS' },
  'wordpress-core': { ja: 'WordPress 本体', en: 'WordPress core' },
  'wordpress-plugin': { ja: 'プラグイン', en: 'plugin' },
  'wordpress-theme': { ja: 'テーマ', en: 'theme' },
};

/** Where a pending update comes from, in words. */
export function sourceText(source: string, lang: Lang): string {
  return SOURCE[source]?.[lang] ?? source;
}

/** `security` or unclassified, in words. */
export function classText(cls: string, lang: Lang): string {
  if (cls === 'security') return lang === 'ja' ? 'セキュリティ' : 'security';
  if (cls === 'unclassified') return lang === 'ja' ? '未分類' : 'unclassified';
  return cls;
}

const RUN_STATE: Record<string, { ja: string; en: string }> = {
  running: { ja: '実行中', en: 'running' },
  ok: { ja: '完了', en: 'done' },
  failed: { ja: '失敗', en: 'failed' },
  interrupted: { ja: '中断', en: 'interrupted' },
};

/** An update job's state in words. */
export function runStateText(state: string, lang: Lang): string {
  return RUN_STATE[state]?.[lang] ?? state;
}

/** An update job's scope in words. */
export function scopeText(scope: string, lang: Lang): string {
  if (scope === 'os') return 'OS';
  if (scope === 'cms') return lang === 'ja' ? 'CMS（WordPress）' : 'CMS (WordPress)';
  return scope;
}

/** Whether a row is the OS's (else a WordPress site's). */
export const isOs = (r: Pick<PendingUpdate, 'source'>): boolean => r.source === 'os';

/** The pending rows as the detail lists them: the OS's first, then each WordPress site's (by
 * path), each group most severe first, then by name. */
export function groupRows(rows: readonly PendingUpdate[]): { site: string; rows: PendingUpdate[] }[] {
  const order = (a: PendingUpdate, b: PendingUpdate) =>
    severityRank(b.severity) - severityRank(a.severity) ||
    Number(b.class === 'security') - Number(a.class === 'security') ||
    a.package.localeCompare(b.package);
  const os = rows.filter(isOs).sort(order);
  const sites = new Map<string, PendingUpdate[]>();
  for (const r of rows) {
    if (isOs(r)) continue;
    const list = sites.get(r.site) ?? [];
    list.push(r);
    sites.set(r.site, list);
  }
  const out: { site: string; rows: PendingUpdate[] }[] = [];
  if (os.length) out.push({ site: '', rows: os });
  for (const site of [...sites.keys()].sort()) out.push({ site, rows: sites.get(site)!.sort(order) });
  return out;
}

/** A row's key in the detail's choice (a package may be pending in several sites). */
export const rowKey = (r: Pick<PendingUpdate, 'source' | 'site' | 'package'>): string => `${r.source}\u0000${r.site}\u0000${r.package}`;

/** What an apply sends for the rows chosen: the OS's package names, or the CMS's names (a
 * WordPress core, plugin or theme); none chosen of that kind means all of it. */
export function chosenPackages(rows: readonly PendingUpdate[], chosen: ReadonlySet<string>, cms: boolean): string[] {
  const names = rows.filter((r) => isOs(r) !== cms && chosen.has(rowKey(r))).map((r) => r.package);
  return [...new Set(names)];
}

/** How long ago, in the console's words (`3日4時間`, `2 h`); '' when unknown. */
export function ageText(since: string | null | undefined, now: number, lang: Lang): string {
  return formatDuration(elapsedMs(since ?? null, now), lang);
}

/** The newest good backup generation of a server (runs come newest first), or null. */
export function newestBackup(runs: readonly BackupRun[]): BackupRun | null {
  return runs.find((r) => r.state === 'ok') ?? null;
}

/** The confirmation's line on the last backup: its age and generation, or that there is none. */
export function backupAgeText(runs: readonly BackupRun[] | null, now: number, lang: Lang): string {
  const ja = lang === 'ja';
  if (runs === null) return ja ? '最新のバックアップ: 確認できません' : 'Latest backup: could not be read';
  const b = newestBackup(runs);
  if (!b) return ja ? '最新のバックアップ: バックアップなし' : 'Latest backup: no backup';
  const age = ageText(b.finished_at ?? b.started_at, now, lang);
  return ja ? `最新のバックアップ: ${age}前（世代 #${b.id}）` : `Latest backup: ${age} ago (generation #${b.id})`;
}

/** A list of names for a sentence, the first `max` of them and how many more. */
export function listText(names: readonly string[], lang: Lang, max = 12): string {
  const shown = names.slice(0, max).join(', ');
  const more = names.length - max;
  if (more <= 0) return shown;
  return lang === 'ja' ? `${shown} ほか ${more} 件` : `${shown} and ${more} more`;
}

/** The lines of the apply's confirmation: what is applied, that the server is paused while the
 * job runs, and the age of the last backup. */
export function applyLines(
  host: string,
  cms: boolean,
  names: readonly string[],
  pending: number,
  backup: string,
  lang: Lang,
): string[] {
  const ja = lang === 'ja';
  const what = cms ? (ja ? 'CMS（WordPress）のアップデート' : 'CMS (WordPress) updates') : ja ? 'OS のアップデート' : 'OS updates';
  const first = names.length
    ? ja
      ? `${host} に次の ${names.length} 件の${what}を適用します: ${listText(names, lang)}`
      : `${what} of ${host} to apply (${names.length}): ${listText(names, lang)}`
    : ja
      ? `${host} に未適用の${what}をすべて（${pending} 件）適用します。`
      : `All pending ${what} of ${host} (${pending}) will be applied.`;
  return [
    first,
    ja
      ? '作業中はサーバーを一時停止（メンテナンス）にします。この間のアラートは保留され、作業が終わると解除されます。'
      : 'The server is paused (maintenance) while the job runs: alerts are held until it ends.',
    backup,
  ];
}

/** The servers of the fleet-wide list: those with pending updates, a failed detection, a job
 * going or an end-of-life OS; with `all`, every server the engine sends an updates view for.
 * Most pending first, then the oldest pending first, then by label. */
export function fleetRows(servers: readonly ServerView[], all = false): ServerView[] {
  const listed = servers.filter((s) => {
    const u = s.updates;
    if (!u) return false;
    if (all) return true;
    return (u.code === 'included' && (u.count > 0 || !!u.error || !!u.running || u.overdue)) || !!u.eol_os;
  });
  const since = (s: ServerView) => {
    const t = Date.parse(s.updates?.oldest_since ?? '');
    return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
  };
  const count = (s: ServerView) => (s.updates?.code === 'included' ? (s.updates?.count ?? 0) : -1);
  return [...listed].sort((a, b) => count(b) - count(a) || since(a) - since(b) || a.label.localeCompare(b.label));
}

/** An RFC 3339 time as the value of a `datetime-local` input, in Japan time (`2026-12-04T10:00`). */
export function toJstInput(iso: string | null | undefined): string {
  const t = Date.parse(iso ?? '');
  if (Number.isNaN(t)) return '';
  return new Date(t + JST_MS).toISOString().slice(0, 16);
}

/** A `datetime-local` value read as Japan time, as RFC 3339 UTC; null when it is not one. */
export function fromJstInput(value: string): string | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value.trim());
  if (!m) return null;
  const t = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] ?? 0)) - JST_MS;
  if (Number.isNaN(t)) return null;
  return new Date(t).toISOString().replace('.000Z', 'Z');
}

/** A refused update action in words: `busy` means another update job of the server (not a
 * recovery), the rest as any refusal. */
export function updateErrorText(err: unknown, lang: Lang): string {
  if (err instanceof BackendError && err.detail === 'busy') {
    const ja = lang === 'ja';
    const known = ja ? 'このサーバーの更新ジョブが実行中です' : 'an update job of this server is running';
    return err.message ? `${known} (${err.message})` : known;
  }
  return describeError(err, lang);
}

/** The newest jobs first, as the engine sends them; the running one, if any. */
export function runningJob(runs: readonly UpdateRun[]): UpdateRun | null {
  return runs.find((r) => r.state === 'running') ?? null;
}
