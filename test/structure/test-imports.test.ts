/**
 * The tests have one home for what they share (README, "Where things are"): `harness/`. No file of
 * the repository imports a file of test/ (so no test file leans on another, and no module a test
 * needs hides beside the tests), test/ and bench/ never import each other, and no `support` or
 * `helpers` folder grows again under test/. The programs in test/*\/fixtures/ are started by
 * path, never imported, so they stay with the test that runs them.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesBelow, importedFilesOf, relativeImportsIn } from '../../harness/structure/imports.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const TEST = path.join(ROOT, 'test');
const BENCH = path.join(ROOT, 'bench');
const CODE = ['.ts', '.mts', '.mjs', '.js'];
const SECOND_HOMES = new Set(['support', 'helpers']);

const within = (folder: string, file: string): boolean => file.startsWith(folder + path.sep);
const relative = (file: string): string => path.relative(ROOT, file);

/** `from -> to` for every import of a file in `from` of a file in `to`. */
function importsAcross(fromFolders: readonly string[], into: string): string[] {
  return fromFolders
    .flatMap((folder) => filesBelow(path.join(ROOT, folder), CODE))
    .flatMap((file) =>
      importedFilesOf(file)
        .filter((target) => within(into, target))
        .map((target) => `${relative(file)} -> ${relative(target)}`),
    );
}

function foldersNamed(dir: string, names: ReadonlySet<string>): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (!entry.isDirectory()) return [];
    const folder = path.join(dir, entry.name);
    return [...(names.has(entry.name) ? [relative(folder)] : []), ...foldersNamed(folder, names)];
  });
}

describe('where test code lives', () => {
  it('no file of the repository imports a file of test/', () => {
    expect(filesBelow(TEST, ['.test.ts']).length).toBeGreaterThan(50);
    expect(importsAcross(['test', 'harness', 'bench', 'src', 'scripts'], TEST)).toEqual([]);
  });

  it('no test imports a benchmark', () => {
    expect(importsAcross(['test', 'harness'], BENCH)).toEqual([]);
  });

  it('no support or helpers folder under test/', () => {
    expect(foldersNamed(TEST, SECOND_HOMES)).toEqual([]);
  });

  it('reads the imports it checks (the check itself)', () => {
    const text = "import { a } from './a.ts';\nimport type { B } from '../b/b.ts';\nexport { c } from './c.ts';\nconst d = await import('./d.ts');\nimport fs from 'node:fs';";
    expect(relativeImportsIn(text)).toEqual(['./a.ts', '../b/b.ts', './c.ts', './d.ts']);
  });
});
