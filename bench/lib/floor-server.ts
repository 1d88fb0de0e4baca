/**
 * The floor of an HTTP front for the database: the least such a front can do. A plain node:http
 * server that publishes each POST's body to the echo's queue (bench/lib/echo-caller.ts) and
 * answers with the reply's body; no validation, signing, logging, metrics or batching. Arguments:
 * the AMQP URL and the echo's queue. Its first message to its parent is its port; it stops on
 * SIGTERM and when the process that forked it is gone.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { openEchoCaller } from './echo-caller.ts';

const [url, queue] = process.argv.slice(2) as [string, string];
const caller = await openEchoCaller(url, queue, 'direct reply-to');
const server = http.createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    void caller.call(Buffer.concat(chunks)).then((reply) => {
      if (reply === undefined) {
        response.writeHead(503).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': reply.length }).end(reply);
    });
  });
});
server.listen(0, '127.0.0.1', () => process.send?.((server.address() as AddressInfo).port));
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  server.closeAllConnections();
  server.close();
  void caller.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('disconnect', stop);
