/**
 * The half of the bed bridge (bed-bridge.ts) that runs inside a host of the bed: for each
 * `open <socket> <host> <port>` line on stdin it listens on that Unix socket (a file, so the
 * process outside the bed reaches it whatever its network namespace) and joins each connection
 * to <host>:<port> as seen from this host. Prints `opened <socket>` once it listens.
 */
import net from 'node:net';
import readline from 'node:readline';

function open(socketPath: string, host: string, port: number): void {
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host, port });
    // Nagle's algorithm off, as on the client's own socket: many calls in flight on one connection (AMQP) would otherwise wait on acknowledgements.
    outbound.setNoDelay(true);
    inbound.pipe(outbound).pipe(inbound);
    // Either side failing ends both: a client sees its connection end as it would on a dead link.
    const end = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', end).on('close', end);
    outbound.on('error', end).on('close', end);
  });
  server.on('error', (error) => process.stderr.write(`bridge relay ${socketPath}: ${error.message}\n`));
  server.listen(socketPath, () => process.stdout.write(`opened ${socketPath}\n`));
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, socketPath, host, port] = line.trim().split(' ');
  if (command === 'open' && socketPath && host && port) open(socketPath, host, Number(port));
});
process.stdin.on('end', () => process.exit(0));
