/**
 * The log lines that explain a failed round: every orchestrator's and worker's pino lines in the
 * round's time window, warnings and errors first, as one short timeline. A checker finding
 * without the lines around it says that something broke but not why.
 */
import fs from 'node:fs';
import path from 'node:path';

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Keys every line has, or that say little in a timeline. */
const NOISE = new Set(['level', 'time', 'msg', 'component', 'hostname', 'config']);

interface Line {
  time: number;
  level: number;
  text: string;
}

export function logExcerpt(dataDir: string, from: number, to: number, maxLines = 80): string {
  const dir = path.join(dataDir, 'logs');
  if (!fs.existsSync(dir)) return '(no log directory)';
  const lines: Line[] = [];
  for (const name of fs.readdirSync(dir).filter((file) => file.endsWith('.log'))) {
    const source = name.replace(/\.log$/, '');
    for (const raw of fs.readFileSync(path.join(dir, name), 'utf8').split('\n')) {
      const line = parse(raw, source, from);
      if (line && line.time >= from - 1000 && line.time <= to && line.level >= 30) lines.push(line);
    }
  }
  // Errors and warnings first, then the lifecycle lines that put them in context.
  const chosen = [...lines].sort((a, b) => b.level - a.level || a.time - b.time).slice(0, maxLines);
  chosen.sort((a, b) => a.time - b.time);
  const omitted = lines.length - chosen.length;
  return [...chosen.map((line) => line.text), ...(omitted > 0 ? [`(${omitted} less severe lines omitted)`] : [])].join('\n');
}

function parse(raw: string, source: string, origin: number): Line | undefined {
  if (!raw.startsWith('{')) return undefined;
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const time = Number(entry.time);
  const level = Number(entry.level);
  if (!Number.isFinite(time)) return undefined;
  const extras = Object.entries(entry)
    .filter(([key]) => !NOISE.has(key))
    .map(([key, value]) => `${key}=${key === 'err' ? errorText(value) : JSON.stringify(value)}`)
    .join(' ');
  const at = `${time - origin >= 0 ? '+' : ''}${((time - origin) / 1000).toFixed(2)}s`;
  const text = `${at} ${source} ${LEVELS[level] ?? level} ${String(entry.msg ?? '')} ${extras}`.slice(0, 400);
  return { time, level, text };
}

function errorText(value: unknown): string {
  const error = value as { message?: unknown; type?: unknown } | null;
  return JSON.stringify(`${String(error?.type ?? 'Error')}: ${String(error?.message ?? value)}`);
}

/** How many lines of the orchestrators' and workers' logs between `from` and `to` match `pattern`: evidence that a fault bit. */
export function countLogLines(dataDir: string, from: number, to: number, pattern: RegExp): number {
  const dir = path.join(dataDir, 'logs');
  if (!fs.existsSync(dir)) return 0;
  let count = 0;
  for (const name of fs.readdirSync(dir).filter((file) => file.endsWith('.log'))) {
    for (const raw of fs.readFileSync(path.join(dir, name), 'utf8').split('\n')) {
      if (!pattern.test(raw)) continue;
      const time = /"time":(\d+)/.exec(raw)?.[1];
      if (time !== undefined && Number(time) >= from && Number(time) <= to) count += 1;
    }
  }
  return count;
}
