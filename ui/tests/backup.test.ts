import { describe, expect, it } from 'vitest';
import type { BackupEligibility } from '../src/lib/backend/types';
import { backupRefused, backupText, gigabytes, sizeText } from '../src/lib/model/backup';

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
    expect([sizeText(420), sizeText(12_345), sizeText(3_400_000), sizeText(2.5e9)]).toEqual(['1 kB', '12 kB', '3.4 MB', '2.5 GB']);
  });
});
