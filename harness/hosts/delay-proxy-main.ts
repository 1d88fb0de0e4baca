/**
 * The delay proxy as a process of its own, so that it can run inside a host of the test bed
 * (this kernel has no netem: a delay is a userspace hop). Every connection it accepts is
 * forwarded to the target with `--delay` ms added to each direction, in order. It prints
 * `listening <port>` once it accepts, and stops on SIGTERM or SIGINT.
 *
 *   node --import tsx harness/hosts/delay-proxy-main.ts --listen 127.0.0.1:0 --target db:5672 --delay 100
 */
import { parseArgs } from 'node:util';
import { TcpProxy } from '../faults/tcp-proxy.ts';

function endpoint(text: string | undefined, what: string): { host: string; port: number } {
  const match = /^(.+):(\d{1,5})$/.exec(text ?? '');
  const port = Number(match?.[2]);
  if (!match?.[1] || port > 65535) throw new Error(`--${what} host:port, not '${text ?? ''}'`);
  return { host: match[1], port };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { listen: { type: 'string' }, target: { type: 'string' }, delay: { type: 'string' } } });
  const listen = endpoint(values.listen, 'listen');
  const target = endpoint(values.target, 'target');
  const delayMs = Number(values.delay);
  if (!Number.isInteger(delayMs) || delayMs < 0) throw new Error(`--delay ms, not '${values.delay ?? ''}'`);
  const proxy = new TcpProxy({ listenHost: listen.host, listenPort: listen.port, targetHost: target.host, targetPort: target.port, initialMode: { mode: 'delay', delayMs } });
  const port = await proxy.start();
  process.stdout.write(`listening ${port}\n`);
  const stop = () => void proxy.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).message}\n`);
  process.exit(2);
});
