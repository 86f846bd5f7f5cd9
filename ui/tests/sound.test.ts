import { describe, expect, it } from 'vitest';
import { REPEAT_MS, alarmStep, newAlarm, toneOf, type AlarmRow } from '../src/lib/model/sound';

// When the console sounds: new incidents at or above the notify level and level rises, on
// servers not in maintenance, repeating every 30 s until acknowledged or closed.

const row = (id: number, level: number, more: Partial<AlarmRow> = {}): AlarmRow => ({ id, level, acknowledgedBy: null, maintenance: false, ...more });

describe('alarmStep', () => {
  it('what was open when the console connected does not sound; a new Lv.4 does, then every 30 s', () => {
    const m = newAlarm();
    expect(alarmStep(m, [row(1, 5)], 3, 0)).toEqual({ play: null, ringing: false, level: null });
    expect(alarmStep(m, [row(1, 5), row(2, 4)], 3, 1000)).toEqual({ play: 4, ringing: true, level: 4 });
    expect(alarmStep(m, [row(1, 5), row(2, 4)], 3, 1000 + REPEAT_MS - 1).play).toBeNull();
    expect(alarmStep(m, [row(1, 5), row(2, 4)], 3, 1000 + REPEAT_MS).play).toBe(4);
  });

  it('acknowledging or closing stops it', () => {
    const m = newAlarm();
    alarmStep(m, [], 3, 0);
    expect(alarmStep(m, [row(2, 4)], 3, 1).ringing).toBe(true);
    expect(alarmStep(m, [row(2, 4, { acknowledgedBy: '田中' })], 3, 2)).toEqual({ play: null, ringing: false, level: null });
    expect(alarmStep(m, [row(2, 4, { acknowledgedBy: '田中' })], 3, 2 + REPEAT_MS).play).toBeNull();
    alarmStep(m, [row(3, 5)], 3, 3);
    expect(alarmStep(m, [], 3, 4).ringing).toBe(false);
  });

  it('below the notify level: silent; a rise to it sounds', () => {
    const m = newAlarm();
    alarmStep(m, [], 3, 0);
    expect(alarmStep(m, [row(4, 2)], 3, 1).play).toBeNull();
    expect(alarmStep(m, [row(4, 3)], 3, 2).play).toBe(3);
    // a fall does not sound again
    expect(alarmStep(m, [row(4, 2)], 3, 3).play).toBeNull();
  });

  it('paused servers never sound, not even when their held alerts are released', () => {
    const m = newAlarm();
    alarmStep(m, [], 3, 0);
    expect(alarmStep(m, [row(5, 5, { maintenance: true })], 3, 1).ringing).toBe(false);
    expect(alarmStep(m, [row(5, 5)], 3, 2).ringing).toBe(false);
  });

  it('the highest ringing level is played; worse levels sound higher and longer', () => {
    const m = newAlarm();
    alarmStep(m, [], 3, 0);
    expect(alarmStep(m, [row(6, 3), row(7, 5)], 3, 1).play).toBe(5);
    expect(toneOf(5).hz).toBeGreaterThan(toneOf(4).hz);
    expect(toneOf(5).pulses).toBeGreaterThanOrEqual(toneOf(3).pulses);
  });
});
