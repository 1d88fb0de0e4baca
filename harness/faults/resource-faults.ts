/**
 * Faults of the resources under the service: the workers' disk filled until SQLite's writes fail
 * (SQLITE_FULL), then freed; and a RabbitMQ resource alarm (memory or disk) that blocks every
 * publisher for longer than the orchestrators' RPC deadline, then lifted.
 */
import { sleep } from '../../src/shared/timeout.ts';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import type { Injection, InjectionContext } from './kinds.ts';
import { countLogLines } from './logs.ts';

const MIB = 1024 * 1024;
/** The scripts under /usr/lib, as the node was started with (src/infra/rabbitmq.ts): the /usr/sbin wrapper would su to another user and cookie. */
export const RABBITMQCTL = '/usr/lib/rabbitmq/bin/rabbitmqctl';
/** The private node's own disk limit (src/infra/rabbitmq.ts) and RabbitMQ's default memory watermark: what a lifted alarm goes back to. */
const DISK_FREE_LIMIT = '50MB';
const MEMORY_WATERMARK = '0.4';

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

function masterOf(workers: WorkerInfo[]): string {
  const master = workers.find((worker) => worker.role === 'master');
  return master ? `master ${master.pid}` : 'no master';
}

/**
 * Every worker's files share one disk (DATA_DIR/workers, as the product lays them out), so a
 * full disk is full under the master and the slaves at once: the master's next commit that needs
 * a page fails, and so does a slave's apply of the sync.
 */
export async function diskFull({ env, random, applied }: InjectionContext): Promise<Injection> {
  const disk = env.workersDisk;
  if (!disk) throw new Error('disk-full needs the workers folder on a small disk (workersDiskBytes)');
  const before = masterOf(await env.inspector.workers().catch(() => []));
  const freeBefore = disk.freeBytes();
  const ballast = disk.fill();
  const filledAt = Date.now();
  applied();
  const heldMs = random.int(2000, 4000);
  await sleep(heldMs);
  const during = masterOf(await env.inspector.workers().catch(() => []));
  disk.free();
  // A little later: a worker logs its failure as it stops.
  await sleep(300);
  const full = countLogLines(env.dataDir, filledAt, Date.now(), /SQLITE_FULL|disk is full/);
  return {
    detail:
      `filled the workers' disk (${mib(freeBefore)} free of ${mib(disk.bytes)}) with ${mib(ballast)} of ballast (${before}), held ${heldMs} ms ` +
      `(${during} at its end; ${full} log line${full === 1 ? '' : 's'} of SQLITE_FULL), then freed it`,
  };
}

export async function brokerAlarm({ env, random, applied }: InjectionContext): Promise<Injection> {
  const memory = random.next() < 0.5;
  // Past the RPC deadline always; past the master's 10 s publish-confirm timeout sometimes.
  const heldMs = random.int(env.options.rpcTimeoutMs + 500, 12_000);
  const [raise, lift] = memory
    ? [
        ['set_vm_memory_high_watermark', 'absolute', '1MB'],
        ['set_vm_memory_high_watermark', MEMORY_WATERMARK],
      ]
    : // In bytes: 3.10's rabbitmqctl takes no TB unit. 1 PB is more than any disk here has free.
      [
        ['set_disk_free_limit', '1000000000000000'],
        ['set_disk_free_limit', DISK_FREE_LIMIT],
      ];
  const what = memory ? 'memory' : 'disk';
  try {
    await env.rabbit.control(RABBITMQCTL, raise);
  } catch (error) {
    applied();
    const reason = error instanceof Error ? error.message : String(error);
    // A fault that did not happen must not pass for one the cluster survived.
    return { detail: `could not raise a ${what} alarm: ${reason}`, violation: `the harness could not raise the ${what} alarm: ${reason.slice(0, 200)}` };
  }
  applied();
  const alarms = await env.rabbit.control(RABBITMQCTL, ['eval', 'rabbit_alarm:get_alarms().']).catch((error: unknown) => `unknown (${String(error)})`);
  if (!alarms.includes(memory ? 'memory' : 'disk')) {
    await env.rabbit.control(RABBITMQCTL, lift).catch(() => undefined);
    return { detail: `RabbitMQ ${what} alarm asked for, but the node reports ${alarms.replace(/\s+/g, ' ')}`, violation: `the ${what} alarm was not raised` };
  }
  await sleep(heldMs);
  let lifted = 'lifted';
  try {
    await env.rabbit.control(RABBITMQCTL, lift);
  } catch (error) {
    lifted = `NOT lifted: ${error instanceof Error ? error.message : String(error)}`;
  }
  return {
    detail: `RabbitMQ ${what} alarm (${raise.join(' ')}; alarms then: ${alarms.replace(/\s+/g, ' ')}) held ${heldMs} ms, ${lifted} (${lift.join(' ')})`,
    ...(lifted === 'lifted' ? {} : { violation: `the harness could not lift the ${what} alarm` }),
  };
}
