/**
 * The operator console's page (`GET /console`) and its files (`GET /console/assets/<name>`):
 * plain HTML, CSS and JavaScript kept in `public/` beside this module, and uPlot's browser build
 * from the installed npm package. Nothing comes from the internet. Files are known by name
 * (a name not in the list is a 404), so no URL reaches any other file.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { RideShareError } from '../../../shared/errors.ts';
import { defineResource } from '../../../shared/http/resource.ts';

export const CONSOLE_PATH = '/console';
export const CONSOLE_ASSETS_PATH = '/console/assets';

/** Beside this module: in src/ (tsx) and in dist/ (scripts/build.mjs copies every non-TypeScript file of src/). */
export const CONSOLE_FILES_DIR = fileURLToPath(new URL('./public/', import.meta.url));

const require = createRequire(import.meta.url);
const UPLOT_FILES = ['uPlot.iife.min.js', 'uPlot.min.css'];

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** The page loads only its own files and talks only to this orchestrator. */
const PAGE_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Every file the console serves, by the name in its URL. */
export function consoleAssets(dir = CONSOLE_FILES_DIR): Map<string, string> {
  const assets = new Map<string, string>();
  const own = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  for (const name of own) if (CONTENT_TYPES[path.extname(name)]) assets.set(name, path.join(dir, name));
  const uplot = path.dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  for (const name of UPLOT_FILES) assets.set(name, path.join(uplot, name));
  return assets;
}

export function registerConsolePages(app: FastifyInstance): void {
  const assets = consoleAssets();

  const send = async (reply: FastifyReply, name: string): Promise<FastifyReply> => {
    const file = assets.get(name);
    if (!file) throw new RideShareError('NOT_FOUND', `no such console file: ${name.slice(0, 100)}`);
    const body = await fs.promises.readFile(file).catch((error: unknown) => {
      throw new RideShareError('INTERNAL', `the console file ${name} cannot be read from ${file}`, { cause: error });
    });
    return reply
      .type(CONTENT_TYPES[path.extname(name)] ?? 'application/octet-stream')
      .header('cache-control', 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .send(body);
  };

  defineResource(app, CONSOLE_PATH, {
    GET: async (_request, reply) => {
      void reply.header('content-security-policy', PAGE_POLICY).header('referrer-policy', 'no-referrer');
      return send(reply, 'index.html');
    },
  });
  defineResource(app, `${CONSOLE_PATH}/`, { GET: async (_request, reply) => reply.redirect(CONSOLE_PATH) });
  defineResource(app, `${CONSOLE_ASSETS_PATH}/:name`, {
    GET: async (request, reply) => {
      const { name } = request.params as { name: string };
      if (name === 'index.html') throw new RideShareError('NOT_FOUND', `the page is at ${CONSOLE_PATH}`);
      return send(reply, name);
    },
  });
}
