//! The geometry of a small resource chart (SVG path data). Pure.

import type { Sample } from '../backend/types';

export interface ChartGeometry {
  line: string;
  area: string;
  min: number;
  max: number;
  thresholds: { value: number; y: number }[];
}

export function chartPath(
  samples: readonly Sample[],
  o: { width: number; height: number; now: number; hours: number; thresholds?: number[] },
): ChartGeometry | null {
  const pts = samples
    .map((s) => ({ t: Date.parse(s.at), v: Number(s.value) }))
    .filter((p) => !Number.isNaN(p.t) && Number.isFinite(p.v));
  if (pts.length === 0) return null;
  const t0 = o.now - o.hours * 3_600_000;
  let min = Math.min(0, ...pts.map((p) => p.v));
  let max = Math.max(...pts.map((p) => p.v));
  // Show a threshold only when the data comes near it, so small values stay readable.
  const ths = (o.thresholds ?? []).filter((th) => th <= max * 1.25);
  max = Math.max(max, ...ths);
  if (max === min) max = min + 1;
  max = max * 1.05;
  const pad = 12;
  const h = o.height - pad * 2;
  const x = (t: number) => Math.max(0, Math.min(o.width, ((t - t0) / (o.now - t0)) * o.width));
  const y = (v: number) => pad + h - ((v - min) / (max - min)) * h;
  const r = (n: number) => Math.round(n * 10) / 10;
  const line = pts.map((p, i) => `${i ? 'L' : 'M'}${r(x(p.t))},${r(y(p.v))}`).join('');
  const area = `${line}L${r(x(pts[pts.length - 1].t))},${r(y(min))}L${r(x(pts[0].t))},${r(y(min))}Z`;
  return {
    line,
    area,
    min,
    max: max / 1.05,
    thresholds: ths.map((value) => ({ value, y: r(y(value)) })),
  };
}
