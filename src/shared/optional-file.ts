/** Files that may or may not be there: an operator's or a restore's record, say. */
import fs from 'node:fs';

/** The file's text, or undefined when there is no such file; any other failure to read it is thrown. */
export function readTextIfPresent(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
