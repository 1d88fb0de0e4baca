/** A closed-loop load generator: `concurrency` lanes, each sending its next request when the last one ends. */
import { httpClient, type HttpClient } from '../../harness/http.ts';
import { BENCH_TOKENS } from './tokens.ts';

export interface LoadResult {
  label: string;
  concurrency: number;
  requests: number;
  errors: number;
  seconds: number;
  rate: number;
  p50Ms: number;
  p99Ms: number;
}

export interface LoadOptions {
  label: string;
  concurrency: number;
  /** Requests in all; the warm-up is on top of these. */
  requests: number;
  warmup?: number;
  task(index: number): Promise<boolean>;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  await drive(options.warmup ?? Math.min(500, options.requests / 5), options.concurrency, options.task, []);
  const latencies: number[] = [];
  const started = performance.now();
  const errors = await drive(options.requests, options.concurrency, options.task, latencies);
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    label: options.label,
    concurrency: options.concurrency,
    requests: options.requests,
    errors,
    seconds,
    rate: options.requests / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

async function drive(count: number, concurrency: number, task: (index: number) => Promise<boolean>, latencies: number[]): Promise<number> {
  let next = 0;
  let errors = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const started = performance.now();
      const ok = await task(index).catch(() => false);
      latencies.push(performance.now() - started);
      if (!ok) errors += 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return errors;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return percentile(sorted, 50);
}

export function formatTable(results: LoadResult[]): string {
  const header = ['measure', 'in flight', 'requests', 'errors', 'rate/s', 'p50 ms', 'p99 ms'];
  const rows = results.map((result) => [
    result.label,
    String(result.concurrency),
    String(result.requests),
    String(result.errors),
    result.rate.toFixed(0),
    result.p50Ms.toFixed(2),
    result.p99Ms.toFixed(2),
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column] as number)).join(' | ')} |`;
  return [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/**
 * The load's HTTP client: a keep-alive pool of `connections`, each request given 10 s, with the
 * service role's bearer token the benchmark systems are started with (harmless where none is needed).
 */
export function loadClient(origin: string, connections = 64): HttpClient {
  return httpClient(origin, { connections, timeoutMs: 10_000, headers: { authorization: `Bearer ${BENCH_TOKENS.service}` } });
}
