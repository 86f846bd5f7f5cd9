//! Sizes of the wall display's tiles: the whole fleet on one screen, problems large enough to read
//! from 3 m (label ≥ 24 px), everything else shrunk to small squares. Pure.

export interface WallInput {
  width: number;
  height: number;
  /** Tiles drawn large (open problems). */
  problems: number;
  /** Tiles drawn small (OK, unknown, maintenance). */
  others: number;
  gap?: number;
}

export interface WallLayout {
  problem: { w: number; h: number; cols: number; rows: number; label: number; text: number };
  small: { size: number; cols: number; rows: number; label: number };
  /** Space between the problem block and the small tiles. */
  sectionGap: number;
  gap: number;
  /** False when even the smallest sizes overflow the screen. */
  fits: boolean;
}

const MAX_PW = 480;
const MIN_PW_LEGIBLE = 180; // a 24 px label of ~10 characters still fits
/** The wall's smallest text (px): read from across the room (issue 17: ≥ 14 px). */
export const MIN_TEXT = 14;
/** The smallest square that carries its label (a 14 px label of 5–7 characters fits). */
const MIN_LABELLED_SQUARE = 56;
const MIN_PW = 100;
const MAX_SMALL = 120;
const GOOD_SMALL = 28;
const MIN_SMALL = 8;

const rowsFor = (n: number, cols: number) => (n === 0 ? 0 : Math.ceil(n / cols));
const colsFor = (width: number, tile: number, gap: number) => Math.max(1, Math.floor((width + gap) / (tile + gap)));
const blockHeight = (rows: number, tile: number, gap: number) => (rows === 0 ? 0 : rows * (tile + gap) - gap);

/** The largest square size ≤ cap whose grid of `n` fits in width × height, or 0. */
export function largestSquare(n: number, width: number, height: number, gap: number, cap: number): number {
  if (n === 0) return cap;
  for (let s = Math.floor(cap); s >= MIN_SMALL; s--) {
    if (blockHeight(rowsFor(n, colsFor(width, s, gap)), s, gap) <= height) return s;
  }
  return 0;
}

export function wallLayout(input: WallInput): WallLayout {
  const { width, height, problems, others } = input;
  const gap = input.gap ?? 6;
  const sectionGap = problems > 0 && others > 0 ? 14 : 0;

  type Try = { pw: number; ph: number; cols: number; rows: number; s: number };
  const tries: Try[] = [];
  for (let pw = MAX_PW; pw >= MIN_PW; pw -= 10) {
    const ph = Math.round(pw * 0.5);
    const cols = problems ? Math.min(problems, colsFor(width, pw, gap)) : 1;
    const rows = rowsFor(problems, colsFor(width, pw, gap));
    const rest = height - blockHeight(rows, ph, gap) - sectionGap;
    const s = rest < 0 ? 0 : largestSquare(others, width, rest, gap > 4 ? 4 : gap, Math.min(MAX_SMALL, ph));
    tries.push({ pw, ph, cols, rows, s });
    if (problems === 0) break; // the size does not matter without problems
  }
  const pick =
    tries.find((t) => t.pw >= MIN_PW_LEGIBLE && (others === 0 || t.s >= GOOD_SMALL)) ??
    tries.find((t) => t.pw >= MIN_PW_LEGIBLE && t.s >= MIN_SMALL) ??
    tries.find((t) => others === 0 || t.s >= MIN_SMALL);
  const t = pick ?? tries[tries.length - 1];
  const smallGap = gap > 4 ? 4 : gap;
  const size = pick ? t.s : MIN_SMALL;
  const smallCols = colsFor(width, size, smallGap);
  const problemFits = blockHeight(t.rows, t.ph, gap) <= height;
  return {
    problem: {
      w: t.pw,
      h: t.ph,
      cols: t.cols,
      rows: t.rows,
      label: t.pw >= MIN_PW_LEGIBLE ? Math.max(24, Math.min(48, Math.round(t.pw / 9))) : Math.max(MIN_TEXT, Math.round(t.pw / 7.5)),
      text: Math.max(MIN_TEXT, Math.min(28, Math.round(t.pw / 14))),
    },
    small: {
      size,
      cols: smallCols,
      rows: rowsFor(others, smallCols),
      // A label only where it can be legible from across the room; smaller squares show their
      // state and give the name as a tooltip.
      label: size >= MIN_LABELLED_SQUARE ? Math.max(MIN_TEXT, Math.min(18, Math.round(size / 5))) : 0,
    },
    sectionGap,
    gap,
    fits: pick !== undefined && problemFits,
  };
}
