/**
 * `npm run secrets`: makes, in DATA_DIR/secrets/, every secret the hosts of a deployment across
 * hosts share (src/system/host-secrets.ts), keeping those already there. Run it on one host, then
 * copy the folder to the others (docs/hosts.md). Prints each file and whether it was made or kept.
 */
import { loadConfig } from '../shared/config.ts';
import { keepFilesPrivate, secureDataDir } from '../shared/private-files.ts';
import { makeHostSecrets } from '../system/host-secrets.ts';
import { toStderr } from './command-line.ts';

try {
  keepFilesPrivate();
  const config = loadConfig();
  secureDataDir(config.DATA_DIR, toStderr);
  const { made, kept } = makeHostSecrets(config.DATA_DIR);
  for (const file of made) process.stdout.write(`made ${file}\n`);
  for (const file of kept) process.stdout.write(`kept ${file}\n`);
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(1);
}
