/**
 * Area names read from a CSV (`Area No,Area Name`, e.g. the course's AreaNameEnum.csv), shown
 * beside area numbers. Names are decoration: which numbers are valid is decided by area.ts alone,
 * so a missing or partial file never changes what the API accepts.
 */
import { readFile } from 'node:fs/promises';
import { toArea } from './area.ts';
import { RideShareError } from '../../shared/errors.ts';

export type AreaNames = ReadonlyMap<number, string>;

function unquote(field: string): string {
  const trimmed = field.trim();
  if (trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')) return trimmed.slice(1, -1).replaceAll('""', '"');
  return trimmed;
}

/** Parses the CSV text; a malformed line is an error naming the line, found at start-up. */
export function parseAreaNames(text: string, source = 'areas file'): AreaNames {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = lines[0]?.split(',').map((field) => unquote(field).toLowerCase());
  if (header?.[0] !== 'area no' || header[1] !== 'area name') {
    throw new RideShareError('CONFIG_INVALID', `${source}: the first line must be the header 'Area No,Area Name'`);
  }
  const names = new Map<number, string>();
  lines.slice(1).forEach((line, index) => {
    if (line.trim() === '') return;
    const comma = line.indexOf(',');
    const area = comma < 0 ? undefined : toArea(unquote(line.slice(0, comma)));
    const name = comma < 0 ? '' : unquote(line.slice(comma + 1));
    if (area === undefined || name === '') throw new RideShareError('CONFIG_INVALID', `${source}:${index + 2}: expected 'number 1..198,name'`);
    names.set(area, name);
  });
  return names;
}

export async function loadAreaNames(file: string): Promise<AreaNames> {
  return parseAreaNames(await readFile(file, 'utf8'), file);
}
