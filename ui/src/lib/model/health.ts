//! Is the engine healthy as far as this console can tell? Pure.

import type { Health } from '../backend/types';

export interface HealthState {
  bad: boolean;
  reason: 'stale' | 'no_health' | 'cycle_late' | null;
}

/** Bad when the data is stale, or the last check cycle is older than 3 × the interval. */
export function healthState(h: Health | null, stale: boolean, now: number): HealthState {
  if (stale) return { bad: true, reason: 'stale' };
  if (!h) return { bad: true, reason: 'no_health' };
  const limit = 3 * (h.interval_secs && h.interval_secs > 0 ? h.interval_secs : 60) * 1000;
  const ref = h.last_cycle_at ?? h.started_at;
  const t = Date.parse(ref);
  if (!Number.isNaN(t) && now - t > limit) return { bad: true, reason: 'cycle_late' };
  return { bad: false, reason: null };
}
