//! What remains between the wire and the contract's types. The shapes themselves need no
//! repair: they are generated from the Rust types the engine serializes (`./generated/`), and
//! the browser console is served by, and the desktop window built with, the engine it talks to.
//! Each function here says why it is more than a cast.

import type { AppInfo, ConsoleMessage } from './types';

type Raw = Record<string, unknown>;

const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** One console message as it arrives (JSON text from the WebSocket, or the desktop shell's IPC
 * payload), or null for one to ignore. More than a cast because: the desktop connected to a
 * remote `anshin serve` may meet a newer engine, whose message kinds this console does not know
 * (ignored, not drawn wrongly); and the desktop shell answers `snapshot` from its mirror, which
 * before the engine's first message has no health and no servers (nothing to show yet: the
 * engine's own snapshot follows). Events of kinds this console does not know pass: the views
 * draw only the kinds they know. */
export function message(raw: unknown): ConsoleMessage | null {
  if (!isObj(raw)) return null;
  switch (raw.type) {
    case 'snapshot':
    case 'delta':
      return Array.isArray(raw.servers) && isObj(raw.health) ? (raw as unknown as ConsoleMessage) : null;
    case 'event':
      return isObj(raw.event) && typeof raw.event.event === 'string' ? (raw as unknown as ConsoleMessage) : null;
    case 'open_incident':
    case 'connection':
      return raw as unknown as ConsoleMessage;
    default:
      return null;
  }
}

const MODES: readonly string[] = ['demo', 'fleet', 'remote', 'web', 'fake', 'review'];

/** The desktop shell's `app_info`. More than a cast because its Rust type lives in the shell
 * (src-tauri), outside the generated contract: it has no `name` (the desktop's operator is the
 * OS user), and a window opened on a log file (`mode: review`) shows the review whatever its
 * view says. */
export function appInfo(raw: unknown): AppInfo {
  const i = isObj(raw) ? raw : {};
  const mode = str(i.mode);
  return {
    mode: (MODES.includes(mode) ? mode : 'fleet') as AppInfo['mode'],
    source: str(i.source),
    db: str(i.db),
    version: str(i.version),
    role: i.role === 'viewer' || i.role === 'admin' ? i.role : 'operator',
    name: str(i.name),
    view: i.view === 'wall' ? 'wall' : i.view === 'review' || mode === 'review' ? 'review' : 'operator',
  };
}
