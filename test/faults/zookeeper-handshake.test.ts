/**
 * What the soak found after a ZooKeeper SIGKILL and restart: a client that reconnects while the
 * server boots can have its connection accepted and its handshake never answered, and then waits
 * for ever (no session, no expiry, every operation timing out), so the orchestrators and workers
 * neither work nor exit. Here the same situation, made deterministic with the link-fault proxy:
 * the client's connection is reset while new connections are accepted and left unanswered for a
 * moment (the proxy does not even contact the server), then new connections reach the server again. The client must come back (or report its session lost)
 * instead of hanging.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ZkClient } from '../../src/dbaas/coordination/ZkClient.ts';
import { sleep } from '../../src/shared/timeout.ts';
import { RestartableServer } from '../../harness/faults/servers.ts';
import { TcpProxy } from '../../harness/faults/tcp-proxy.ts';

describe('a ZooKeeper client whose reconnection is accepted but not answered', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rideshare-zk-handshake-'));
  let zk: RestartableServer;
  let proxy: TcpProxy;
  let client: ZkClient | undefined;

  beforeAll(async () => {
    zk = await RestartableServer.zooKeeper(dir, 200);
    await zk.start();
    proxy = new TcpProxy({ targetPort: zk.port });
    await proxy.start();
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await proxy?.stop();
    await zk?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('comes back, or says its session is lost, once the server answers again', async () => {
    client = new ZkClient({ connect: `127.0.0.1:${proxy.port}`, sessionTimeoutMs: 4000, operationTimeoutMs: 1000 });
    let expired = false;
    client.on('expired', () => (expired = true));
    await client.connect();
    await client.ensurePath('/handshake');

    // A server that accepts and never answers, the way a booting ZooKeeper did.
    proxy.acceptSilently(true);
    proxy.cut(proxy.list().map((link) => link.clientPort));
    await sleep(1500);
    proxy.acceptSilently(false);

    const deadline = Date.now() + 15_000;
    let answered = false;
    while (!answered && !expired && Date.now() < deadline) {
      answered = await client.getChildren('/handshake').then(
        () => true,
        () => false,
      );
      if (!answered) await sleep(250);
    }
    const stuck = proxy.silentCount;
    expect(
      answered || expired,
      `15 s after the server answers again the client neither answers nor reports an expired session; it still waits on ${stuck} connection(s) whose handshake was never answered`,
    ).toBe(true);
  }, 60_000);
});
