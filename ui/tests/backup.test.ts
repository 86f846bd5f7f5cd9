import { describe, expect, it } from 'vitest';
import type { BackupEligibility } from '../src/lib/backend/types';
import {
  backupAttention, backupRefused, backupStoreFullText, backupText, gigabytes, progressParts, sizeText,
} from '../src/lib/model/backup';

const view = (patch: Partial<BackupEligibility>): BackupEligibility => ({
  code: 'eligible', used_bytes: null, used_inodes: null, why: null, attention: null, running: null, ...patch,
});

describe('backup eligibility in words (contract §7)', () => {
  it('says why a server is not backed up, with its numbers and the catalogue limits', () => {
    expect(backupText(view({ code: 'too_big', used_bytes: 62_100_000_000 }), 'ja')).toBe(
      'バックアップ対象外: 使用量が上限を超えています（62.1 GB / 50.0 GB）',
    );
    expect(backupText(view({ code: 'too_many_inodes', used_inodes: 612_345 }), 'en')).toBe(
      'Not backed up: more inodes used than the limit (612,345 / 500,000)',
    );
    expect(backupText(view({ code: 'eligible', used_bytes: 1_234_000_000, used_inodes: 45_000 }), 'ja')).toBe(
      'バックアップ対象（使用量 1.2 GB / 50.0 GB、inode 45,000 / 500,000）',
    );
    expect(backupText(view({ code: 'not_in_plan' }), 'ja')).toBe('バックアップはプラン外です');
  });

  it('marks a tile only when a limit refuses an entitled server', () => {
    expect(backupRefused(view({ code: 'too_big', used_bytes: 6e10 }))).toBe(true);
    expect(backupRefused(view({ code: 'too_many_inodes', used_inodes: 6e5 }))).toBe(true);
    for (const code of ['eligible', 'not_in_plan', 'not_measured']) expect(backupRefused(view({ code }))).toBe(false);
    expect(backupRefused(null)).toBe(false);
    expect(gigabytes(150e9)).toBe('150 GB');
    expect([sizeText(0), sizeText(420), sizeText(12_345), sizeText(3_400_000), sizeText(2.5e9)]).toEqual(['0 kB', '1 kB', '12 kB', '3.4 MB', '2.5 GB']);
  });
});

describe('what the engine says of a backed-up server, drawn (contract §7)', () => {
  it("names the engine's attention codes, and nothing when it sent none", () => {
    const failed = backupAttention(view({ attention: 'last_failed' }), 'ja');
    expect(failed?.mark).toBe('BK失敗');
    expect(failed?.title).toContain('失敗');
    const stale = backupAttention(view({ attention: 'stale' }), 'en');
    expect(stale?.code).toBe('stale');
    expect(stale?.mark).toBe('BK stale');
    expect(backupAttention(view({ attention: null }), 'ja')).toBeNull();
    expect(backupAttention(null, 'ja')).toBeNull();
  });

  it("shows a running backup's numbers as they come", () => {
    const started = '2026-12-02T05:00:00Z'; // 14:00:00 JST
    const now = Date.parse(started) + 185_000;
    const p = { run: 7, kind: 'full', started, bytes: 12_345_678, files: 1234, rate: 66_734 };
    expect(progressParts(p, 'ja', now)).toEqual({
      kind: 'フルバックアップ実行中', bytes: '12.3 MB', files: '1,234 ファイル', rate: '67 kB/秒', since: '14:00:00 から（3分）',
    });
    const first = progressParts({ ...p, kind: 'differential', bytes: 0, files: 1, rate: 0 }, 'en', Date.parse(started) + 4_000);
    expect(first).toEqual({
      kind: 'Differential backup running', bytes: '0 kB', files: '1 file', rate: '0 kB/s', since: 'since 14:00:00 (4 s)',
    });
  });

  it("words the backup store's alarm by its percentage, 0 meaning not looked at", () => {
    expect(backupStoreFullText(86, 'ja')).toContain('使用率が 86%');
    expect(backupStoreFullText(91, 'en')).toContain('91% full');
    expect(backupStoreFullText(0, 'ja')).toContain('確認できません');
    expect(backupStoreFullText(0, 'en')).not.toContain('0%');
  });
});
