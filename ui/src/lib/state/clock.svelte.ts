//! The one 1-second clock every duration and the JST clock read (no per-tile timers).

class Clock {
  now = $state(Date.now());

  /** Every blinking tile blinks in step: one attribute on <html>, flipped each second. */
  private flip(t: number) {
    if (typeof document !== 'undefined') {
      document.documentElement.dataset.blink = Math.floor(t / 1000) % 2 ? 'on' : 'off';
    }
  }

  private timer: ReturnType<typeof setInterval> | null = null;

  start() {
    if (this.timer) return;
    // Tick on the second boundary so the JST clock changes when the real one does.
    const set = () => {
      this.now = Date.now();
      this.flip(this.now);
    };
    const align = () => {
      set();
      this.timer = setInterval(set, 1000);
    };
    this.timer = setTimeout(align, 1000 - (Date.now() % 1000)) as unknown as ReturnType<typeof setInterval>;
  }
}

export const clock = new Clock();
