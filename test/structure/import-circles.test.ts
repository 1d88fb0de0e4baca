/**
 * Dependencies point one way (README, "Dependencies point one way"): no source file imports,
 * through any chain of imports (type-only ones included), a file that imports it back, and no
 * folder of src/dbaas does so with another folder either. Read from the import statements of
 * src/, so a circle names the files that make it.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { filesBelow, importedFilesOf } from '../../harness/structure/imports.ts';

const SRC = path.resolve(import.meta.dirname, '../../src');

/** Every elementary circle of `graph`, each listed once, starting from its smallest node. */
function circles(graph: Map<string, Set<string>>): string[][] {
  const found: string[][] = [];
  for (const start of [...graph.keys()].sort()) {
    const walk = (node: string, trail: string[]): void => {
      for (const next of graph.get(node) ?? []) {
        if (next === start) found.push([...trail, start]);
        else if (next > start && !trail.includes(next)) walk(next, [...trail, next]);
      }
    };
    walk(start, [start]);
  }
  return found;
}

function graphOf(nodeOf: (file: string) => string | undefined): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const file of filesBelow(SRC, ['.ts'])) {
    const from = nodeOf(file);
    if (from === undefined) continue;
    for (const target of importedFilesOf(file)) {
      const to = nodeOf(target);
      if (to === undefined || to === from) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)?.add(to);
    }
  }
  return graph;
}

const describeCircle = (circle: string[]) => circle.join(' -> ');

describe('import circles', () => {
  it('no file of src/ imports itself back through other files', () => {
    const byFile = graphOf((file) => path.relative(SRC, file));
    expect(byFile.size).toBeGreaterThan(100);
    expect(circles(byFile).map(describeCircle)).toEqual([]);
  });

  it('no folder of src/dbaas imports itself back through other folders', () => {
    const byFolder = graphOf((file) => {
      const parts = path.relative(SRC, file).split(path.sep);
      return parts[0] === 'dbaas' && parts.length > 2 ? `dbaas/${parts[1]}` : undefined;
    });
    expect(byFolder.size).toBeGreaterThan(5);
    expect(circles(byFolder).map(describeCircle)).toEqual([]);
  });

  it('finds a circle where there is one (the check itself)', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(circles(graph).map(describeCircle)).toEqual(['a -> b -> c -> a']);
  });
});
