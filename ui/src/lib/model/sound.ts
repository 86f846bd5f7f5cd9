//! When the console sounds (the one rule for the window, the browser and the wall): a new open
//! incident at or above the console's notify level, or a level rise of one, on a server not in
//! maintenance, starts the alarm; it sounds again every `REPEAT_MS` until every incident that
//! started it is acknowledged or closed. Incidents open when the console connected, and those of
//! paused servers (also when their held alerts are released after the pause), never sound.
//! Pure: the player (`state/sound.svelte.ts`) asks it once a second and plays what it says.

/** The lowest level that sounds (as the desktop's `--notify-level` defaults: Lv.3 and up). */
export const DEFAULT_NOTIFY_LEVEL = 3;

/** How often a ringing alarm sounds again until someone acknowledges (Nagstamon's habit). */
export const REPEAT_MS = 30_000;

/** What the rule reads of an open incident (an `IncidentRow` is one). */
export interface AlarmRow {
  id: number | null;
  level: number;
  acknowledgedBy: string | null;
  maintenance: boolean;
}

export interface AlarmMemory {
  /** The first look (what was open when the console connected) has been taken. */
  started: boolean;
  /** The last level seen of every open incident. */
  levels: Map<number, number>;
  /** The incidents that started the alarm and are still open and not acknowledged. */
  ringing: Set<number>;
  /** When it last sounded (ms), null: not yet. */
  lastPlayed: number | null;
}

export function newAlarm(): AlarmMemory {
  return { started: false, levels: new Map(), ringing: new Set(), lastPlayed: null };
}

export interface AlarmStep {
  /** The level to sound now (the highest ringing), or null for silence. */
  play: number | null;
  /** An alarm is on (sounding now or again later). */
  ringing: boolean;
  /** Its level (the highest ringing incident's), null when none. */
  level: number | null;
}

/** One look at the open incidents at `now` (ms); `mem` is updated in place. */
export function alarmStep(mem: AlarmMemory, rows: readonly AlarmRow[], notifyLevel: number, now: number): AlarmStep {
  const open = new Map<number, AlarmRow>();
  for (const r of rows) if (r.id !== null) open.set(r.id, r);
  let fresh = false;
  for (const [id, r] of open) {
    const before = mem.levels.get(id);
    mem.levels.set(id, r.level);
    if (!mem.started || r.maintenance || r.acknowledgedBy) continue;
    if ((before === undefined || r.level > before) && r.level >= notifyLevel) {
      mem.ringing.add(id);
      fresh = true;
    }
  }
  for (const id of [...mem.levels.keys()]) if (!open.has(id)) mem.levels.delete(id);
  for (const id of [...mem.ringing]) {
    const r = open.get(id);
    if (!r || r.acknowledgedBy || r.maintenance) mem.ringing.delete(id);
  }
  mem.started = true;
  let level: number | null = null;
  for (const id of mem.ringing) level = Math.max(level ?? 0, open.get(id)!.level);
  const due = level !== null && (fresh || mem.lastPlayed === null || now - mem.lastPlayed >= REPEAT_MS);
  if (due) mem.lastPlayed = now;
  if (level === null) mem.lastPlayed = null;
  return { play: due ? level : null, ringing: level !== null, level };
}

/** The tone of a level: pulses of one pitch, more and higher for a worse level. */
export function toneOf(level: number): { hz: number; pulses: number } {
  if (level >= 5) return { hz: 988, pulses: 3 };
  if (level === 4) return { hz: 784, pulses: 2 };
  if (level === 3) return { hz: 659, pulses: 2 };
  return { hz: 523, pulses: 1 };
}
