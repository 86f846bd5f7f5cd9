//! Arrow-key movement over a grid of tiles laid out in rows of `cols`. Pure.

/** The index focus moves to, or null when the key is not a movement (or there is nothing). */
export function moveIndex(i: number, key: string, n: number, cols: number): number | null {
  if (n === 0) return null;
  const at = i < 0 ? 0 : Math.min(i, n - 1);
  const c = Math.max(1, cols);
  switch (key) {
    case 'ArrowRight':
      return Math.min(n - 1, at + 1);
    case 'ArrowLeft':
      return Math.max(0, at - 1);
    case 'ArrowDown':
      return at + c < n ? at + c : at;
    case 'ArrowUp':
      return at - c >= 0 ? at - c : at;
    case 'Home':
      return 0;
    case 'End':
      return n - 1;
    case 'PageDown':
      return Math.min(n - 1, at + c * 5);
    case 'PageUp':
      return Math.max(0, at - c * 5);
    default:
      return null;
  }
}
