// Stands in, under docker-compose (docker-compose.local.yml), for a server that runs outside
// compose: healthy once host:port accepts connections, so the services' depends_on conditions
// hold the same way they do for the compose servers. It says every second what it is waiting for,
// and after --wait seconds which server at which address it cannot reach (the health check then
// fails at once, so `up -d` stops within seconds).
//   node docker/standin-server.mjs [--name NAME] [--wait SECONDS] ADDRESS | --file PATH
//   node docker/standin-server.mjs --probe ADDRESS | --file PATH      one attempt: exit 0 if it answers
// ADDRESS is host:port, a ZooKeeper connect string (its first server), or a URL such as AMQP_URL;
// --file reads it from a file (a compose secret: a URL with a password). Only host:port is printed.
// Plain JavaScript on purpose: it runs before anything else and needs no loader.
import fs from 'node:fs';
import net from 'node:net';

const DEFAULT_PORTS = { 'amqp:': 5672, 'amqps:': 5671 };
const options = { probe: false, name: 'the server', wait: 15, address: '' };
const args = process.argv.slice(2);
for (let index = 0; index < args.length; index += 1) {
  const arg = args[index];
  if (arg === '--probe') options.probe = true;
  else if (arg === '--name') options.name = args[++index] ?? options.name;
  else if (arg === '--wait') options.wait = Number(args[++index]);
  else if (arg === '--file') options.address = readAddress(args[++index] ?? '');
  else options.address = arg;
}
const { host, port } = parse(options.address);
if (!host || !port || !(options.wait > 0)) {
  process.stderr.write('usage: standin-server.mjs [--probe] [--name NAME] [--wait SECONDS] HOST:PORT | URL | --file PATH\n');
  process.exit(2);
}
const target = `${host}:${port}`;
/** Written when the wait ran out; the health check fails from then on. */
const GAVE_UP = '/tmp/standin-gave-up';

function readAddress(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (error) {
    process.stderr.write(`cannot read the address of ${options.name} from ${file}: ${error.code ?? error.message}\n`);
    process.exit(2);
  }
}

function parse(text) {
  if (text.includes('://')) {
    try {
      const url = new URL(text);
      return { host: url.hostname, port: Number(url.port) || DEFAULT_PORTS[url.protocol] };
    } catch {
      return {};
    }
  }
  const match = /^\[?([^\],]+?)\]?:(\d+)/.exec(text.split(',')[0] ?? '');
  return match ? { host: match[1], port: Number(match[2]) } : {};
}

/** undefined when host:port accepts a connection, else why not. */
function attempt() {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (error) => resolve(error.code ?? error.message));
    socket.once('timeout', () => {
      socket.destroy();
      resolve('no answer within 1 s');
    });
  });
}

if (options.probe) process.exit(!fs.existsSync(GAVE_UP) && (await attempt()) === undefined ? 0 : 1);

const say = (line) => process.stdout.write(`${line}\n`);
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
fs.rmSync(GAVE_UP, { force: true });
const started = Date.now();
for (;;) {
  const failure = await attempt();
  if (failure === undefined) break;
  const waited = Math.round((Date.now() - started) / 1000);
  if (waited >= options.wait) {
    fs.writeFileSync(GAVE_UP, failure);
    say(`cannot reach ${options.name} at ${target} after ${waited} s (${failure}): start it there, or point the setting at where it runs, then run up again`);
    setInterval(() => {}, 1 << 30);
    await new Promise(() => {});
  }
  say(`waiting for ${options.name} at ${target}: ${failure} (${waited} s of ${options.wait})`);
  await new Promise((resolve) => setTimeout(resolve, 1000));
}
say(`${options.name} answers at ${target}; standing in for it until stopped`);
setInterval(() => {}, 1 << 30);
