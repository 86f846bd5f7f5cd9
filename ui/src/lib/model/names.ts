//! Names of checks, resources and suppression reasons as the operator reads them. Pure.

type Lang = 'ja' | 'en';

const CHECKS: Record<string, string> = {
  ping: 'ping',
  ssh: 'SSH',
  http: 'HTTP',
  https: 'HTTPS',
  smtp: 'SMTP',
  smtps: 'SMTPS',
  submission: 'Submission',
  pop: 'POP',
  pop3: 'POP',
  pops: 'POPS',
  imap: 'IMAP',
  imaps: 'IMAPS',
  ftp: 'FTP',
  mysql: 'MySQL',
  postgresql: 'PostgreSQL',
  dns: 'DNS',
  plesk: 'Plesk Panel',
};

const RESOURCES: Record<string, { ja: string; en: string }> = {
  load: { ja: 'Load avg.', en: 'Load avg.' },
  disk: { ja: '/ の使用率', en: '/ usage' },
  inode: { ja: '/ の inode', en: '/ inodes' },
  mailq: { ja: 'メールキュー', en: 'Mail queue' },
  ssh_hostkey: { ja: 'SSH ホスト鍵', en: 'SSH host key' },
};

export function checkName(check: string, lang: Lang): string {
  if (check.startsWith('custom:')) return check.slice('custom:'.length);
  return CHECKS[check] ?? RESOURCES[check]?.[lang] ?? check;
}

/** Why a failing check is not an incident, in words. */
export function suppressionText(reason: string | null, lang: Lang): string {
  if (!reason) return '';
  if (reason === 'host_unreachable') {
    return lang === 'ja'
      ? 'サーバーが ping に応答しないため、このチェックの障害は通知していません（ping の障害に含まれます）'
      : 'Not alerted: the server does not answer ping (covered by the ping incident)';
  }
  if (reason.startsWith('gateway_down:')) {
    const gw = reason.slice('gateway_down:'.length);
    return lang === 'ja'
      ? `ゲートウェイ ${gw} が停止しているため通知していません（ネットワーク障害に含まれます）`
      : `Not alerted: gateway ${gw} is down (covered by the network incident)`;
  }
  if (reason === 'maintenance') return lang === 'ja' ? 'メンテナンス中のため通知していません' : 'Not alerted: maintenance';
  return reason;
}

/** Strips control characters and terminal escapes from untrusted text (DESIGN.md). */
export function clean(s: string | null | undefined): string {
  // eslint-disable-next-line no-control-regex
  return String(s ?? '').replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, '').replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ');
}
