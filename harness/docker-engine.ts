/**
 * Whether the Docker tests can run here: an engine answering on its socket, and the worker image
 * (built, or brought up to date, by docker/build-images.sh, which is quick when nothing changed).
 * Tests skip with the reason rather than fail: the process runtime stays the default and the
 * Docker engine is optional equipment (CI installs and starts one).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { DEFAULT_WORKER_IMAGE } from '../src/shared/config.ts';

const BUILD_SCRIPT = fileURLToPath(new URL('../docker/build-images.sh', import.meta.url));

export type EngineStatus = { ok: true; docker: Docker; image: string } | { ok: false; reason: string };

/**
 * `images`: `app` (the worker runtime's tests) or `all` (compose also needs the RabbitMQ and
 * ZooKeeper images). Under CI=true an engine that does not answer or an image that cannot be built
 * is an error, not a skip: .ci/run installs and starts everything they need, so it is a fault to see.
 */
export async function dockerEngine(images: 'app' | 'all' = 'app'): Promise<EngineStatus> {
  const status = await probe(images);
  if (!status.ok && process.env.CI === 'true') throw new Error(`Docker tests cannot run under CI: ${status.reason}`);
  if (!status.ok) process.stderr.write(`Docker tests skipped: ${status.reason}\n`);
  return status;
}

async function probe(images: 'app' | 'all'): Promise<EngineStatus> {
  const socket = '/var/run/docker.sock';
  if (!process.env.DOCKER_HOST && !fs.existsSync(socket)) return { ok: false, reason: `no Docker engine: ${socket} does not exist and DOCKER_HOST is unset` };
  const docker = new Docker();
  try {
    await Promise.race([docker.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error('no answer in 3 s')), 3000))]);
  } catch (error) {
    return { ok: false, reason: `the Docker engine is not answering (${(error as Error).message})` };
  }
  if (process.env.RIDESHARE_SKIP_IMAGE_BUILD !== '1') {
    try {
      await promisify(execFile)('bash', [BUILD_SCRIPT, '--images', images], { timeout: 600_000 });
    } catch (error) {
      const { stderr } = error as { stderr?: string };
      return { ok: false, reason: `the images (${images}) could not be built: ${(stderr || (error as Error).message).trim().split('\n').slice(-3).join(' | ')}` };
    }
  }
  try {
    await docker.getImage(DEFAULT_WORKER_IMAGE).inspect();
  } catch {
    return { ok: false, reason: `image ${DEFAULT_WORKER_IMAGE} is missing (npm run images)` };
  }
  return { ok: true, docker, image: DEFAULT_WORKER_IMAGE };
}

/** A title that says, in the report, why a suite did not run. */
export function suiteTitle(title: string, engine: EngineStatus): string {
  return engine.ok ? title : `${title} [skipped: ${engine.reason}]`;
}
