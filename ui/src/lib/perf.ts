//! The perf check (`?fake=2000&perf=1`, on the generated fleet of `backend/fake.ts`): time to
//! first render of the fleet, then 100 deltas applied one after another, each waited for until Svelte has updated the DOM and the browser
//! has laid it out. Prints a summary on the page (`data-testid="perf"`) and the console.

import { tick } from 'svelte';
import type { FakeBackend } from './backend/fake';
import type { ConsoleState } from './state/console.svelte';

const frame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));

export async function runPerf(fake: FakeBackend, state: ConsoleState, deltas = 100, perDelta = 20): Promise<string> {
  await fake.ready;
  const t0 = performance.now();
  state.handle({ type: 'connection', connected: true, since: new Date().toISOString(), message: '' });
  state.handle(fake.snapshot());
  await tick();
  const tScript = performance.now();
  void document.body.offsetHeight; // style and layout now
  const tSnapshot = performance.now();
  await frame();
  const tFirstFrame = performance.now();
  const times: number[] = [];
  let scriptSum = 0;
  for (let i = 0; i < deltas; i++) {
    const { delta, events } = fake.tick(perDelta);
    const a = performance.now();
    state.handle(delta);
    for (const e of events) state.handle(e);
    await tick();
    scriptSum += performance.now() - a;
    void document.body.offsetHeight;
    times.push(performance.now() - a);
  }
  await frame();
  const sorted = [...times].sort((x, y) => x - y);
  const sum = times.reduce((x, y) => x + y, 0);
  const tiles = document.querySelectorAll('[data-testid="tile"]').length;
  const r = (n: number) => n.toFixed(1);
  const report = [
    `servers ${fake.servers.length}, tiles in DOM ${tiles}`,
    `first render (snapshot → DOM + layout): ${r(tSnapshot - t0)} ms (script ${r(tScript - t0)} ms, style+layout ${r(tSnapshot - tScript)} ms); to first frame: ${r(tFirstFrame - t0)} ms; since navigation: ${r(tFirstFrame)} ms`,
    `${deltas} deltas × ${perDelta} servers: total ${r(sum)} ms, mean ${r(sum / deltas)} ms, median ${r(sorted[Math.floor(deltas / 2)])} ms, p95 ${r(sorted[Math.floor(deltas * 0.95)])} ms, max ${r(sorted[deltas - 1])} ms; of which script (merge + Svelte DOM update) ${r(scriptSum / deltas)} ms per delta`,
  ].join('\n');
  console.log(`PERF\n${report}`);
  document.title = `PERF done`;
  return report;
}
