//! Whether a server is backed up, in the operator's words (contract §7). The judgement is the
//! engine's (`ServerView.backup`); the limits come from the catalogue. Pure.

import type { BackupEligibility } from '../backend/types';
import { catalogue } from './catalogue';

type Lang = 'ja' | 'en';

/** Decimal gigabytes, as the contract states the limit (50 GB = 50 × 10⁹ bytes). */
export function gigabytes(bytes: number): string {
  const gb = bytes / 1e9;
  return `${gb >= 100 ? gb.toFixed(0) : gb.toFixed(1)} GB`;
}

/** An archive's size: kB, MB or GB (decimal), whichever reads best. */
export function sizeText(bytes: number): string {
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
