//! Names of checks (from the engine's catalogue), resources and suppression reasons as the
//! operator reads them. Pure.

import { checkLabel } from './catalogue';

type Lang = 'ja' | 'en';

/** A check's name: the engine's catalogue's (`HTTP`, `/ の使用率`), a custom check's own name. */
export function checkName(check: string, lang: Lang): string {
  return checkLabel(check, lang);
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
