/**
 * The shape `npm run backup` and `npm run restore` share: one file argument, `--force`, `--help`,
 * and their own options. Bad usage prints the usage and exits 2; `--help` prints it and exits 0.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ allowPositionals: true; options: O }>>;

export type CommandLine<O extends Options> = { file: string; values: Parsed<O>['values'] };

/** Where a tool tells what it did to DATA_DIR (src/shared/private-files.ts): its stderr, its stdout being its answer. */
export const toStderr = {
  info: (message: string) => void process.stderr.write(`${message}\n`),
  warn: (message: string) => void process.stderr.write(`${message}\n`),
};

/** The file and the options, or the exit code when there is nothing to run. */
export function readCommandLine<O extends Options>(usage: string, options: O): CommandLine<O> | number {
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({ allowPositionals: true, options: { ...options, help: { type: 'boolean' } } as O });
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  const [file, ...rest] = parsed.positionals;
  if (file === undefined || rest.length > 0) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  return { file, values: parsed.values };
}
