/**
 * How this program starts its own processes: from dist/ as plain JavaScript when this code runs
 * compiled (`npm start` builds first), otherwise from src/ through the tsx loader (tests,
 * development). A child always runs the way its parent does, so one build serves a whole system.
 */
import { fileURLToPath } from 'node:url';

/** True when this module was loaded from compiled JavaScript (dist/). */
export const runsCompiled = import.meta.url.endsWith('.js');

/** The folder holding src/, dist/ and node_modules. */
export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The file to run for an entry point named by its source path under src/ (e.g.
 * 'dbaas/worker/main.ts'): that source, or its compiled twin when we run compiled.
 */
export function entryPoint(sourceEntry: string): string {
  const relative = runsCompiled ? sourceEntry.replace(/\.ts$/, '.js') : sourceEntry;
  return fileURLToPath(new URL(`../${relative}`, import.meta.url));
}

/** node's arguments to run `entry`: TypeScript through the tsx loader (resolved from the project root), JavaScript as it is. */
export function nodeArgs(entry: string): string[] {
  return entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry];
}
