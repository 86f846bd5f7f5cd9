//! The console's sound: Web Audio tones as `model/sound` says, muted per console (remembered in
//! localStorage `anshin.sound.muted`). Browsers keep audio suspended until the page is touched:
//! `enabled` stays false until then and the header offers 「音を有効にする」 (the desktop window
//! and the kiosk allow it from the start). Must not know: what an incident is beyond `AlarmRow`.

import { alarmStep, newAlarm, toneOf, type AlarmRow } from '../model/sound';

const KEY = 'anshin.sound.muted';

type Ctx = AudioContext;

class Sound {
  muted = $state(readMuted());
  /** Audio can play (the context runs). */
  enabled = $state(false);
  /** An alarm is on until someone acknowledges (shown beside the mute button). */
  ringing = $state(false);
  level = $state<number | null>(null);
  private ctx: Ctx | null = null;
  private mem = newAlarm();

  /** Creates the audio context (suspended until the page is touched in a browser) and notes
   * when it runs. */
  private context(): Ctx | null {
    if (this.ctx) return this.ctx;
    const C = typeof window === 'undefined' ? undefined : (window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext);
    if (!C) return null;
    try {
      this.ctx = new C();
    } catch {
      return null;
    }
    this.enabled = this.ctx.state === 'running';
    this.ctx.onstatechange = () => (this.enabled = this.ctx?.state === 'running');
    return this.ctx;
  }

  /** Starts at load: plays at once where the page may (the window, the kiosk). */
  start() {
    const ctx = this.context();
    if (ctx && ctx.state !== 'running') void ctx.resume().catch(() => undefined);
  }

  /** 「音を有効にする」: a touch of the page lets the context run. */
  async unlock() {
    const ctx = this.context();
    if (!ctx) return;
    await ctx.resume().catch(() => undefined);
    this.enabled = ctx.state === 'running';
  }

  toggleMute() {
    this.muted = !this.muted;
    try {
      localStorage.setItem(KEY, this.muted ? '1' : '0');
    } catch {
      // a browser without storage: muted for this page only
    }
  }

  /** Once a second: the open incidents; sounds when the rule says so. */
  look(rows: readonly AlarmRow[], notifyLevel: number, now: number) {
    const step = alarmStep(this.mem, rows, notifyLevel, now);
    this.ringing = step.ringing;
    this.level = step.level;
    if (step.play !== null && !this.muted) this.tone(step.play);
  }

  private tone(level: number) {
    const ctx = this.context();
    if (!ctx || ctx.state !== 'running') return;
    const { hz, pulses } = toneOf(level);
    const t0 = ctx.currentTime + 0.02;
    for (let i = 0; i < pulses; i++) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = 'square';
      osc.frequency.value = hz;
      const start = t0 + i * 0.28;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.12, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.2);
      osc.connect(gain).connect(ctx.destination);
      osc.start(start);
      osc.stop(start + 0.22);
    }
  }
}

function readMuted(): boolean {
  try {
    return typeof localStorage !== 'undefined' && localStorage.getItem(KEY) === '1';
  } catch {
    return false;
  }
}

export const sound = new Sound();
