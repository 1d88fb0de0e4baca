/**
 * A CPU profile of a running process of a bench system, taken from outside: the process is asked
 * to open its inspector (SIGUSR1, as `process._debugProcess` sends it), and the profiler is
 * driven over the inspector's WebSocket, so the process runs exactly as shipped until then.
 */
import fs from 'node:fs';
import { WebSocket } from 'undici';

const INSPECTOR = 'http://127.0.0.1:9229';

interface InspectorReply {
  id?: number;
  result?: { profile?: unknown };
}

export interface Profiler {
  start(): Promise<void>;
  /** Stops and writes the profile (Chrome's .cpuprofile format) to `file`. */
  stopTo(file: string): Promise<void>;
  close(): void;
}

export async function attachProfiler(pid: number, samplingMicros = 200): Promise<Profiler> {
  (process as unknown as { _debugProcess(pid: number): void })._debugProcess(pid);
  let targets: { webSocketDebuggerUrl: string }[] = [];
  for (let attempt = 0; attempt < 50 && targets.length === 0; attempt += 1) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    targets = await fetch(`${INSPECTOR}/json/list`).then(
      (response) => response.json() as Promise<{ webSocketDebuggerUrl: string }[]>,
      () => [],
    );
  }
  const target = targets[0];
  if (target === undefined) throw new Error(`pid ${pid} opened no inspector on ${INSPECTOR} (is the port taken?)`);
  const socket = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve);
    socket.addEventListener('error', reject);
  });
  let nextId = 1;
  const waiting = new Map<number, (reply: InspectorReply) => void>();
  socket.addEventListener('message', (event) => {
    const reply = JSON.parse(String(event.data)) as InspectorReply;
    if (reply.id !== undefined) waiting.get(reply.id)?.(reply);
  });
  const send = (method: string, params: object = {}) =>
    new Promise<InspectorReply>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send('Profiler.enable');
  await send('Profiler.setSamplingInterval', { interval: samplingMicros });
  return {
    start: async () => void (await send('Profiler.start')),
    stopTo: async (file) => {
      const reply = await send('Profiler.stop');
      fs.writeFileSync(file, JSON.stringify(reply.result?.profile));
    },
    close: () => socket.close(),
  };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

/** Self time by where the code lives (a package, one of our compiled files, a native part), in percent of the busy time. */
export function summarizeProfile(file: string, top = 20): string {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const byPlace = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, index) => {
    const frame = nodes.get(id)?.callFrame;
    if (frame === undefined || frame.functionName === '(idle)') return;
    const delta = profile.timeDeltas[index] ?? 0;
    busy += delta;
    const place = /node_modules\/([^/]+)/.exec(frame.url)?.[1] ?? /\/dist\/(.*)$/.exec(frame.url)?.[1] ?? (frame.url.startsWith('node:') ? frame.url : `(${frame.functionName || 'native'})`);
    byPlace.set(place, (byPlace.get(place) ?? 0) + delta);
  });
  const rows = [...byPlace.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  return rows.map(([place, micros]) => `${((micros / busy) * 100).toFixed(1).padStart(5)}%  ${place}`).join('\n');
}
