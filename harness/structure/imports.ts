/**
 * The relative imports of the repository's own files, read from their text (static imports and
 * exports, type-only ones included, and dynamic `import('…')` of a literal path): what the
 * structure tests check the layout with, without loading any of the files.
 */
import fs from 'node:fs';
import path from 'node:path';

const RELATIVE_IMPORT = /^\s*(?:import|export)\b[^'";]*?(?:from\s*)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/gm;

/** Every file below `dir` whose name ends with one of `endings`, node_modules left out. */
export function filesBelow(dir: string, endings: readonly string[]): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : filesBelow(file, endings);
    return endings.some((ending) => entry.name.endsWith(ending)) ? [file] : [];
  });
}

/** The relative paths `text` imports, as written. */
export function relativeImportsIn(text: string): string[] {
  return [...text.matchAll(RELATIVE_IMPORT)].map((match) => (match[1] ?? match[2]) as string);
}

/** The existing files `file` imports by a relative path, as absolute paths. */
export function importedFilesOf(file: string): string[] {
  return relativeImportsIn(fs.readFileSync(file, 'utf8'))
    .map((target) => path.resolve(path.dirname(file), target))
    .filter((target) => fs.existsSync(target));
}
