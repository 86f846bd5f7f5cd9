//! Moves an element to the end of <body> while it lives: dialogs opened from inside a tile (whose
//! `content-visibility` contains and clips fixed-position children) or from the detail drawer
//! are drawn above everything, on their own.

export function portal(node: HTMLElement): { destroy(): void } {
  document.body.appendChild(node);
  return {
    destroy() {
      node.remove();
    },
  };
}
