// Copies every file of a source tree that tsc does not compile (anything but .ts) to the same
// place in the build, so modules find their files beside them in dist/ as in src/ (the operator
// console's page, styles and scripts: src/dbaas/orchestrator/console/public).
import fs from 'node:fs';
import path from 'node:path';

/** Returns the copied files, relative to `from`. */
export function copyAssets(from, to) {
  const copied = [];
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) {
      copied.push(...copyAssets(source, target).map((name) => path.join(entry.name, name)));
    } else if (entry.isFile() && !entry.name.endsWith('.ts')) {
      fs.mkdirSync(to, { recursive: true });
      fs.copyFileSync(source, target);
      copied.push(entry.name);
    }
  }
  return copied;
}
