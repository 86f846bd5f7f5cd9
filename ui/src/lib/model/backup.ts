//! Whether a server is backed up, in the operator's words (contract §7). The judgement is the
//! engine's (`ServerView.backup`); the limits come from the catalogue. Pure.

import type { BackupEligibility, BackupProgress } from '../backend/types';
import { catalogue } from './catalogue';
import { elapsedMs, formatDuration, jstTime } from './duration';

type Lang = 'ja' | 'en';

/** Decimal gigabytes, as the contract states the limit (50 GB = 50 × 10⁹ bytes). */
export function gigabytes(bytes: number): string {
  const gb = bytes / 1e9;
  return `${gb >= 100 ? gb.toFixed(0) : gb.toFixed(1)} GB`;
}

/** An archive's size: kB, MB or GB (decimal), whichever reads best (nothing yet: `0 kB`). */
export function sizeText(bytes: number): string {
  if (bytes <= 0) return '0 kB';
  if (bytes >= 1e9) return gigabytes(bytes);
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}

function count(n: number, lang: Lang): string {
  return n.toLocaleString(lang === 'ja' ? 'ja-JP' : 'en-US');
}

/** One line for the server's detail: backed up or not, why, with the numbers and the limits. */
export function backupText(b: BackupEligibility, lang: Lang): string {
  const limits = catalogue()?.backup_limits;
  const maxBytes = limits ? ` / ${gigabytes(limits.max_used_bytes)}` : '';
  const maxInodes = limits ? ` / ${count(limits.max_used_inodes, lang)}` : '';
  const used = b.used_bytes !== null ? `${gigabytes(b.used_bytes)}${maxBytes}` : '';
  const inodes = b.used_inodes !== null ? `${count(b.used_inodes, lang)}${maxInodes}` : '';
  const ja = lang === 'ja';
  switch (b.code) {
    case 'eligible':
      return ja ? `バックアップ対象（使用量 ${used}、inode ${inodes}）` : `Backed up (used ${used}, inodes ${inodes})`;
    case 'not_in_plan':
      return ja ? 'バックアップはプラン外です' : 'Backups are not in the plan';
    case 'too_big':
      return ja
        ? `バックアップ対象外: 使用量が上限を超えています（${used}）`
        : `Not backed up: more used than the limit (${used})`;
    case 'too_many_inodes':
      return ja
        ? `バックアップ対象外: inode 使用数が上限を超えています（${inodes}）`
        : `Not backed up: more inodes used than the limit (${inodes})`;
    case 'not_measured':
      return ja ? 'バックアップ: 使用量を未計測' : 'Backup: usage not measured yet';
    default:
      return b.code;
  }
}

/** The tile's short mark when a server the plan entitles is not backed up (over a limit). */
export function backupRefused(b: BackupEligibility | null | undefined): boolean {
  return !!b && (b.code === 'too_big' || b.code === 'too_many_inodes');
}

/** The tile's backup mark of a backed-up server the engine flagged (`attention`), with what it
 * means for the tooltip; null when the engine flagged nothing. When a server is flagged is the
 * engine's rule: this only names its codes. */
export function backupAttention(
  b: BackupEligibility | null | undefined,
  lang: Lang,
): { code: string; mark: string; title: string } | null {
  const ja = lang === 'ja';
  switch (b?.attention) {
    case 'last_failed':
      return {
        code: 'last_failed',
        mark: ja ? 'BK失敗' : 'BK failed',
        title: ja
          ? '前回のバックアップが失敗したか、途中で中断されました'
          : 'The latest backup run failed or was cut off',
      };
    case 'stale':
      return {
        code: 'stale',
        mark: ja ? 'BK未更新' : 'BK stale',
        title: ja
          ? '最新のバックアップ世代が古くなっています（予定どおりに取得されていません）'
          : 'The newest backup generation is out of date (runs are not completing on schedule)',
      };
    default:
      return null;
  }
}

/** The parts of a backup's live line (the engine's numbers as it streams): kind, bytes and files
 * so far, the rate, since when and for how long. */
export function progressParts(
  p: BackupProgress,
  lang: Lang,
  now: number,
): { kind: string; bytes: string; files: string; rate: string; since: string } {
  const ja = lang === 'ja';
  const full = p.kind === 'full';
  const running = formatDuration(elapsedMs(p.started, now), lang);
  return {
    kind: ja ? (full ? 'フルバックアップ実行中' : '差分バックアップ実行中') : full ? 'Full backup running' : 'Differential backup running',
    bytes: sizeText(p.bytes),
    files: ja ? `${count(p.files, lang)} ファイル` : `${count(p.files, lang)} ${p.files === 1 ? 'file' : 'files'}`,
    rate: `${sizeText(p.rate)}/${ja ? '秒' : 's'}`,
    since: ja ? `${jstTime(p.started)} から（${running}）` : `since ${jstTime(p.started)} (${running})`,
  };
}

/** The engine's `backup_store_full` alarm in words: `count` is the percentage of the backup
 * store's file system in use; 0 means the engine could not look at it (its detail says why). */
export function backupStoreFullText(percent: number, lang: Lang): string {
  const ja = lang === 'ja';
  if (percent <= 0) {
    return ja
      ? 'バックアップ保存先の空き容量を確認できません（バックアップが止まる可能性があります）'
      : 'Cannot look at the backup store\'s free space (backups may stop)';
  }
  return ja
    ? `バックアップ保存先の使用率が ${percent}% です（空き容量を確保してください。不足するとバックアップを実行しません）`
    : `The backup store is ${percent}% full (free some space: backups are refused when it runs out)`;
}
