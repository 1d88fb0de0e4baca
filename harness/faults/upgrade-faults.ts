/**
 * A rolling upgrade from the previous protocol version to this one, under the round's load.
 * The fault harness runs this checkout, so the cluster is first taken back to the previous
 * release (harness/previous-release.ts): every orchestrator is stopped gracefully, the last one
 * stopping the workers, and started again from the previous release's build, which restarts the
 * cluster from the workers' files (clients see an outage of a few seconds here; that part is
 * set-up, not what is tested). Then the upgrade itself, as docs/operations.md tells an operator:
 * each orchestrator in turn gets SIGTERM and comes back from this build, and the next waits for
 * its /ready. The heal clock starts once the last one is back; a worker of the previous protocol
 * still running by then plus the heal bound is a violation.
 */
import amqp from 'amqplib';
import { clusterNames } from '../../src/dbaas/protocol/names.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { PROTOCOL_VERSION } from '../../src/dbaas/protocol/messages.ts';
import type { WorkerInfo } from '../../src/dbaas/coordination/worker-registry.ts';
import { protocolOf } from '../../src/dbaas/protocol/worker-protocol.ts';
import { previousRelease } from '../previous-release.ts';
import type { Injection, InjectionContext } from './kinds.ts';
import type { OrchestratorProcess } from './orchestrator-process.ts';

/** How long each step (an orchestrator back and ready, the cluster whole, the workers replaced) may take. */
const STEP_BOUND_MS = 60_000;

export async function rollingUpgrade({ env, applied }: InjectionContext): Promise<Injection> {
  const release = previousRelease();
  const steps: string[] = [];
  const started = Date.now();
  const step = (line: string) => steps.push(`+${((Date.now() - started) / 1000).toFixed(1)}s ${line}`);

  // Back to the previous release: all stopped (the last one stops the workers), then started from its build.
  for (const orchestrator of env.orchestrators) orchestrator.holdRestarts();
  for (const orchestrator of env.orchestrators) {
    const pid = await orchestrator.terminate();
    step(`orchestrator ${orchestrator.name} (pid ${pid}) stopped`);
  }
  // The previous release declares the cluster's queues as classic queues, and the broker refuses a
  // declaration of another type: with every worker and orchestrator stopped, they go (what they
  // held was never acknowledged), as on the previous release's broker they never existed.
  await dropClusterQueues(env.rabbit.address, env.cluster);
  step('the cluster\u2019s quorum queues removed for the previous release');
  for (const orchestrator of env.orchestrators) orchestrator.reconfigure({ root: release.dir });
  for (const orchestrator of env.orchestrators) {
    orchestrator.releaseRestarts();
    if (!(await ready(orchestrator))) return { detail: steps.join('; '), violation: `orchestrator ${orchestrator.name} of the previous release did not become ready` };
    step(`orchestrator ${orchestrator.name} of the previous release ready, pid ${orchestrator.pid}`);
  }
  const old = await until(async () => {
    const whole = await env.wholeness();
    return whole.problem === undefined && whole.workers.every((worker) => protocolOf(worker) < PROTOCOL_VERSION) ? whole.workers : undefined;
  });
  if (!old) return { detail: steps.join('; '), violation: 'the cluster of the previous release did not become whole' };
  step(`cluster of the previous release whole: ${describe(old)}`);

  // The upgrade: each orchestrator in turn restarted from this build, the next once it is ready.
  const upgradeStarted = Date.now();
  for (const orchestrator of env.orchestrators) {
    orchestrator.reconfigure({ root: undefined });
    const pid = await orchestrator.terminate();
    step(`orchestrator ${orchestrator.name} (pid ${pid}) stopped`);
    if (!(await ready(orchestrator))) return { detail: steps.join('; '), violation: `orchestrator ${orchestrator.name} did not come back ready from this build` };
    step(`orchestrator ${orchestrator.name} ready on this build, pid ${orchestrator.pid}`);
  }
  applied();
  const upgraded = await until(async () => {
    const workers = await env.inspector.workers().catch(() => []);
    const master = workers.find((worker) => worker.role === 'master' && worker.ready);
    return master && workers.every((worker) => protocolOf(worker) === PROTOCOL_VERSION) ? workers : undefined;
  });
  if (!upgraded) {
    const left = await env.inspector.workers().catch(() => []);
    return { detail: steps.join('; '), violation: `workers of another protocol than ${PROTOCOL_VERSION} still ran ${STEP_BOUND_MS} ms after the upgrade: ${describe(left)}` };
  }
  step(`workers of protocol ${PROTOCOL_VERSION}: ${describe(upgraded)}; the upgrade itself took ${((Date.now() - upgradeStarted) / 1000).toFixed(1)} s`);
  return { detail: steps.join('; ') };
}

/** Ready as a load balancer would see it: GET /ready answers 200 (a master and a ready slave). */
async function ready(orchestrator: OrchestratorProcess): Promise<boolean> {
  const answered = await until(async () => {
    if (!orchestrator.isServing) return undefined;
    try {
      const response = await fetch(`${orchestrator.url}/ready`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      return response.status === 200 ? true : undefined;
    } catch {
      return undefined;
    }
  });
  return answered === true;
}

async function until<T>(probe: () => Promise<T | undefined>): Promise<T | undefined> {
  const deadline = Date.now() + STEP_BOUND_MS;
  while (Date.now() < deadline) {
    const value = await probe();
    if (value !== undefined) return value;
    await sleep(100);
  }
  return undefined;
}

function describe(workers: WorkerInfo[]): string {
  return workers.map((worker) => `${worker.role} ${worker.pid} (protocol ${protocolOf(worker)})`).join(', ') || 'none registered';
}

/** Deletes the cluster's request and refused queues (the previous release declares them anew, classic). */
async function dropClusterQueues(amqpUrl: string, cluster: string): Promise<void> {
  const names = clusterNames(cluster);
  const connection = await amqp.connect(amqpUrl, { timeout: 5000 });
  try {
    const channel = await connection.createChannel();
    for (const queue of [names.writeQ, names.readQ, names.snapshotQ, names.refusedQ]) await channel.deleteQueue(queue);
  } finally {
    await connection.close().catch(() => undefined);
  }
}
