// Stands in, under docker-compose, for a server that runs outside compose (on this machine the
// Debian RabbitMQ and ZooKeeper): healthy once host:port accepts connections, so the services'
// depends_on conditions hold the same way they do for the official images.
//   node docker/standin-server.mjs ADDRESS           wait until it answers, then idle until stopped
//   node docker/standin-server.mjs --probe ADDRESS   one attempt; exit 0 if it answers (healthcheck)
// ADDRESS is host:port, a ZooKeeper connect string (its first server), or a URL such as AMQP_URL.
// Plain JavaScript on purpose: it runs before anything else and needs no loader.
import net from 'node:net';

const DEFAULT_PORTS = { 'amqp:': 5672, 'amqps:': 5671 };
const args = process.argv.slice(2);
const probeOnly = args[0] === '--probe';
const address = probeOnly ? args[1] : args[0];
const { host, port } = parse(address ?? '');
if (!host || !port) {
  process.stderr.write('usage: standin-server.mjs [--probe] HOST:PORT | URL\n');
  process.exit(2);
}
const target = `${host}:${port}`;

function parse(text) {
  if (text.includes('://')) {
    const url = new URL(text);
    return { host: url.hostname, port: Number(url.port) || DEFAULT_PORTS[url.protocol] };
  }
  const match = /^\[?([^\],]+?)\]?:(\d+)/.exec(text.split(',')[0] ?? '');
  return match ? { host: match[1], port: Number(match[2]) } : {};
}

function answers() {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

if (probeOnly) process.exit((await answers()) ? 0 : 1);

process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
while (!(await answers())) await new Promise((resolve) => setTimeout(resolve, 500));
process.stdout.write(`${target} answers; standing in for it until stopped\n`);
setInterval(() => {}, 1 << 30);
