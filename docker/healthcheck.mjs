// The application image's HEALTHCHECK: 0 when GET /ready of the server this container runs
// answers 200 within 2 s, else 1 with the reason on stdout (docker inspect shows it under
// State.Health). Which server, and so which port, is read from the container's command line
// (pid 1, or the process docker-init runs): the orchestrator, a service or the gateway.
//   node docker/healthcheck.mjs [URL]      URL: check this one instead
// Plain JavaScript on purpose: the image has no shell and no curl.
import fs from 'node:fs';

const PORTS = [
  ['orchestrator/main', 'ORCHESTRATOR_PORT', 8000],
  ['users/main', 'USERS_PORT', 8081],
  ['rides/main', 'RIDES_PORT', 8082],
  ['gateway/main', 'GATEWAY_PORT', 8080],
];

function readyUrl() {
  if (process.argv[2]) return process.argv[2];
  const command = fs.readFileSync('/proc/1/cmdline', 'utf8').split('\0').join(' ');
  const known = PORTS.find(([entry]) => command.includes(entry));
  if (!known) return undefined;
  const [, variable, fallback] = known;
  const port = (process.env[variable] ?? '').split(',')[0].trim() || fallback;
  return `http://127.0.0.1:${port}/ready`;
}

const url = readyUrl();
if (!url) {
  // A stand-in or a one-off command: nothing to check.
  process.exit(0);
}
try {
  const answer = await fetch(url, { signal: AbortSignal.timeout(2000) });
  const body = await answer.text();
  process.stdout.write(`${url}: ${answer.status} ${body.slice(0, 300)}\n`);
  process.exit(answer.status === 200 ? 0 : 1);
} catch (error) {
  process.stdout.write(`${url}: ${error.cause?.code ?? error.message}\n`);
  process.exit(1);
}
