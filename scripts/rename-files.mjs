/**
 * Gives every source file the name the naming rule asks for (biome.jsonc, useFilenamingConvention):
 * kebab-case, or PascalCase when the file exports something of that very name (the class or
 * interface it exists for). It renames with `git mv`, rewrites the imports and the mentions of the
 * old names in code and docs, and drops the list of files still to rename from biome.jsonc.
 *
 *   node scripts/rename-files.mjs           prints what it would do
 *   node scripts/rename-files.mjs --apply   does it
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const SOURCE_DIRS = ['src/', 'harness/', 'test/', 'bench/', 'scripts/'];
const SOURCE_FILE = /\.(ts|mts|js|mjs)$/;
const TEXT_FILE = /\.(ts|mts|cts|js|mjs|cjs|md|json|jsonc|ya?ml|sh|html)$|(^|\/)Dockerfile[^/]*$|^\.ci\/run$/;
const KEBAB = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const PENDING_BLOCK = /\n[ \t]*\/\/ pending-rename:start[\s\S]*?\/\/ pending-rename:end[^\n]*/;

const apply = process.argv.includes('--apply');
const root = execFileSync('git', ['rev-parse', '--show-toplevel'], { encoding: 'utf8' }).trim();
process.chdir(root);
const tracked = execFileSync('git', ['ls-files', '-z'], { encoding: 'utf8' })
  .split('\0')
  .filter((file) => file && fs.existsSync(file));

/** `ZkAcl` → `zk-acl`, `settingsOfProcesses` → `settings-of-processes`, `RPCClient` → `rpc-client`. */
function kebab(name) {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .replace(/([A-Z])([A-Z][a-z])/g, '$1-$2')
    .toLowerCase();
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function exportsName(source, name) {
  const declared = new RegExp(`export\\s+(?:default\\s+)?(?:declare\\s+)?(?:abstract\\s+)?(?:async\\s+)?(?:class|interface|type|function\\*?|const|let|var|enum)\\s+${escapeRegExp(name)}\\b`);
  const listed = new RegExp(`export\\s+(?:type\\s+)?\\{[^}]*\\b${escapeRegExp(name)}\\b[^}]*\\}`);
  return declared.test(source) || listed.test(source);
}

/** Old path → new path, for every source file whose name breaks the rule. */
function plannedRenames() {
  const renames = new Map();
  for (const file of tracked) {
    if (!SOURCE_DIRS.some((dir) => file.startsWith(dir)) || !SOURCE_FILE.test(file)) continue;
    const base = path.posix.basename(file);
    const stem = base.split('.')[0];
    if (KEBAB.test(stem)) continue;
    if (/^[A-Z]/.test(stem) && exportsName(fs.readFileSync(file, 'utf8'), stem)) continue;
    renames.set(file, path.posix.join(path.posix.dirname(file), kebab(stem) + base.slice(stem.length)));
  }
  const taken = new Set(tracked.filter((file) => !renames.has(file)));
  for (const [from, to] of renames) {
    if (taken.has(to)) throw new Error(`${from} would become ${to}, which exists`);
    taken.add(to);
  }
  return renames;
}

/**
 * The text with its references to renamed files rewritten: relative specifiers that resolve to one
 * ('./zk-acl.ts' from the files beside it), and any mention of a renamed file's name when no other
 * file has that name (comments, docs, paths in config).
 */
function rewritten(file, text, renames, uniqueNames) {
  const dir = path.posix.dirname(file);
  let out = text.replace(/(['"`])(\.{1,2}\/[^'"`\s]+)\1/g, (whole, quote, specifier) => {
    const target = renames.get(path.posix.normalize(path.posix.join(dir, specifier)));
    if (!target) return whole;
    return `${quote}${specifier.slice(0, specifier.lastIndexOf('/') + 1)}${path.posix.basename(target)}${quote}`;
  });
  for (const [from, to] of renames) {
    const oldName = path.posix.basename(from);
    if (!uniqueNames.has(oldName)) continue;
    out = out.replace(new RegExp(`(?<![\\w.-])${escapeRegExp(oldName)}(?!\\w)`, 'g'), path.posix.basename(to));
  }
  return out;
}

const renames = plannedRenames();
if (renames.size === 0) {
  console.log('every source file already has the name the rule asks for');
  process.exit(0);
}
const nameCounts = new Map();
for (const file of tracked) nameCounts.set(path.posix.basename(file), (nameCounts.get(path.posix.basename(file)) ?? 0) + 1);
const uniqueNames = new Set([...nameCounts].filter(([, count]) => count === 1).map(([name]) => name));

const edits = [];
for (const file of tracked) {
  if (!TEXT_FILE.test(file)) continue;
  const text = fs.readFileSync(file, 'utf8');
  let next = rewritten(file, text, renames, uniqueNames);
  if (file === 'biome.jsonc') next = next.replace(PENDING_BLOCK, '');
  if (next !== text) edits.push({ file, next });
}

for (const [from, to] of renames) console.log(`${from} -> ${path.posix.basename(to)}`);
console.log(`${renames.size} files to rename; references rewritten in ${edits.length} files`);
for (const [from] of renames) {
  if (!uniqueNames.has(path.posix.basename(from))) console.log(`note: another file is also named ${path.posix.basename(from)}; only relative imports of ${from} are rewritten`);
}
if (!apply) {
  console.log('nothing changed: run with --apply to rename');
  process.exit(0);
}
for (const { file, next } of edits) fs.writeFileSync(file, next);
for (const [from, to] of renames) execFileSync('git', ['mv', from, to]);
console.log('done: now run npm run typecheck && npm run lint');
