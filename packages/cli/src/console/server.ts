import { timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { WorkflowListQuery } from '@durable/core';
import { isDurableError } from '@durable/core';
import { readStoredActor } from '@durable/core/actor';
import { inspectOrchestration, listOrchestrations, toMermaid } from '@durable/core/orchestrator';
import {
  cancelWorkflow,
  countWorkflowsByStatus,
  listWorkflows,
  resumeWorkflow,
} from '@durable/workflow';
import Fastify from 'fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LoadedConfig } from '../config.js';
import { requireStorage, requireWorkflows } from '../config.js';
import { CliError, ExitCode, exitCodeOf } from '../exit-codes.js';
import { parseStatuses } from '../commands/parse.js';
import { workflowView } from '../views.js';
import { consolePage } from './page.js';

/** Options for {@link startConsole}. */
export interface ConsoleOptions {
  /** The stores to show (from `--fs` or `durable.config.mjs`). */
  config: LoadedConfig;
  /** Port to listen on (0: any free port). @default 7400 */
  port?: number;
  /** Address to bind. Anything but a loopback address requires `token`. @default "127.0.0.1" */
  host?: string;
  /** A secret every request must carry (`Authorization: Bearer <token>`, or `?token=` to open the page). */
  token?: string;
}

/** A running console. */
export interface ConsoleServer {
  /** The page's address (with `?token=` when a token is set). */
  url: string;
  /** The port it listens on. */
  port: number;
  /** Stops the server. */
  close(): Promise<void>;
  /** Resolves once the server has stopped (by `close()` or a signal). */
  closed: Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);
const ACTION_HEADER = 'x-durable-console';

/**
 * Serves the web console: workflows (counts, filters, live refresh, a step timeline, cancel,
 * resume and signal), orchestrations with their state diagram (Mermaid, served from the
 * install), and actors. Bound to 127.0.0.1 by default; bound elsewhere it refuses to start
 * without a token, and every request must carry it. Actions need a header a cross-site form
 * cannot send, and the Host header must name the console (no DNS rebinding).
 */
export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token;
  if (!LOOPBACK.has(host) && (token === undefined || token.length < 16)) {
    throw new CliError(
      ExitCode.USAGE,
      `console: bound to ${host}, others can reach it: give --token <secret> (16 characters or more), or bind 127.0.0.1`,
    );
  }
  const app = Fastify({ logger: false });
  const mermaidFile = createRequire(import.meta.url).resolve('mermaid/dist/mermaid.min.js');
  // Filled once the port is known (a Host check before that has nothing to compare with).
  const allowedHosts = new Set<string>();

  app.addHook('onRequest', async (request, reply) => {
    if (
      allowedHosts.size > 0 &&
      LOOPBACK.has(host) &&
      !allowedHosts.has(String(request.headers.host ?? ''))
    ) {
      return reply
        .code(421)
        .send({ error: 'this console answers only to its own address (Host header)' });
    }
    // The library file is public (it is the mermaid package): the page loads it before any call.
    const publicAsset = request.method === 'GET' && request.url === '/assets/mermaid.min.js';
    if (token !== undefined && !publicAsset && !carriesToken(request, token)) {
      return reply.code(401).send({
        error:
          'a token is required: open the URL printed by `durable console` (it carries ?token=)',
      });
    }
    if (request.method !== 'GET' && request.headers[ACTION_HEADER] !== '1') {
      return reply
        .code(403)
        .send({ error: `actions need the ${ACTION_HEADER} header (sent by the console page)` });
    }
    return undefined;
  });

  routes(app, options.config, token);
  app.get('/assets/mermaid.min.js', async (_request, reply) => {
    reply
      .header('content-type', 'text/javascript; charset=utf-8')
      .header('cache-control', 'max-age=3600');
    return readFile(mermaidFile);
  });

  await app.listen({ port: options.port ?? 7400, host });
  const port = (app.server.address() as AddressInfo).port;
  for (const allowed of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`])
    allowedHosts.add(allowed);
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  app.server.on('close', () => resolveClosed());
  const shown = LOOPBACK.has(host) ? '127.0.0.1' : host;
  return {
    url: `http://${shown}:${port}/${
      token === undefined ? '' : `?token=${encodeURIComponent(token)}`
    }`,
    port,
    closed,
    close: async () => {
      await app.close();
    },
  };
}

function carriesToken(request: FastifyRequest, token: string): boolean {
  const header = request.headers.authorization;
  const given =
    header?.startsWith('Bearer ') === true
      ? header.slice(7)
      : (request.query as Record<string, unknown> | undefined)?.['token'];
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function routes(app: FastifyInstance, config: LoadedConfig, token: string | undefined): void {
  const fail = (reply: FastifyReply, error: unknown): FastifyReply => {
    const code = exitCodeOf(error);
    const status =
      code === ExitCode.USAGE
        ? 400
        : code === ExitCode.NOT_FOUND
          ? 404
          : code === ExitCode.REFUSED
            ? 409
            : 500;
    return reply.code(status).send({
      error: error instanceof Error ? error.message : String(error),
      ...(isDurableError(error) ? { code: error.code } : {}),
    });
  };
  const handle =
    (run: (request: FastifyRequest) => Promise<unknown>) =>
    async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
      try {
        return await run(request);
      } catch (error) {
        return fail(reply, error);
      }
    };
  const workflows = () => requireWorkflows(config);
  const query = (request: FastifyRequest): Record<string, string | undefined> =>
    request.query as Record<string, string | undefined>;

  app.get('/', async (_request, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .send(consolePage({ tokenRequired: token !== undefined, source: config.source })),
  );
  app.get(
    '/api/counts',
    handle(async () => countWorkflowsByStatus(workflows())),
  );
  app.get(
    '/api/workflows',
    handle(async (request) => {
      const q = query(request);
      const list: WorkflowListQuery = {
        limit: q['limit'] === undefined ? 50 : Number(q['limit']),
        order: q['order'] === 'asc' ? 'asc' : 'desc',
      };
      if (q['status'] !== undefined && q['status'] !== '') list.status = parseStatuses(q['status']);
      if (q['handler'] !== undefined && q['handler'] !== '') list.handler = q['handler'];
      if (q['cursor'] !== undefined && q['cursor'] !== '') list.cursor = q['cursor'];
      return listWorkflows(workflows(), list);
    }),
  );
  app.get(
    '/api/workflow',
    handle(async (request) => {
      const id = String(query(request)['id'] ?? '');
      const record = await workflows().get(id);
      if (record === undefined)
        throw new CliError(ExitCode.NOT_FOUND, `no workflow ${JSON.stringify(id)}`);
      return workflowView(record);
    }),
  );
  const action = (name: 'cancel' | 'resume' | 'signal') =>
    handle(async (request) => {
      const body = (request.body ?? {}) as { id?: unknown; name?: unknown; payload?: unknown };
      const id = typeof body.id === 'string' ? body.id : '';
      const store = workflows();
      let done: boolean;
      if (name === 'cancel') done = await cancelWorkflow(store, id, () => undefined);
      else if (name === 'resume') done = await resumeWorkflow(store, id);
      else {
        if (typeof body.name !== 'string' || body.name === '')
          throw new CliError(ExitCode.USAGE, 'signal: give the event name');
        done = await store.signal(id, body.name, body.payload ?? null);
      }
      if (!done) {
        const record = await store.get(id);
        if (record === undefined)
          throw new CliError(ExitCode.NOT_FOUND, `no workflow ${JSON.stringify(id)}`);
        throw new CliError(ExitCode.REFUSED, `${name} refused: ${id} is ${record.status}`);
      }
      return { id, action: name, done };
    });
  app.post('/api/workflow/cancel', action('cancel'));
  app.post('/api/workflow/resume', action('resume'));
  app.post('/api/workflow/signal', action('signal'));
  const orchestrationBase = () => {
    const prefix = config.config.orchestrations?.prefix;
    return { storage: requireStorage(config), ...(prefix === undefined ? {} : { prefix }) };
  };
  app.get(
    '/api/orchestrations',
    handle(async (request) => {
      const q = query(request);
      return listOrchestrations(orchestrationBase(), {
        limit: q['limit'] === undefined ? 50 : Number(q['limit']),
        ...(q['prefix'] === undefined || q['prefix'] === '' ? {} : { prefix: q['prefix'] }),
        ...(q['cursor'] === undefined || q['cursor'] === '' ? {} : { cursor: q['cursor'] }),
      });
    }),
  );
  app.get(
    '/api/orchestration',
    handle(async (request) => {
      const subject = String(query(request)['subject'] ?? '');
      const view = await inspectOrchestration(orchestrationBase(), subject);
      if (view === undefined)
        throw new CliError(
          ExitCode.NOT_FOUND,
          `no orchestration process ${JSON.stringify(subject)}`,
        );
      const logic = config.config.orchestrations?.versions?.find(
        (v) => v.version === view.version,
      )?.logic;
      return {
        subject,
        ...view,
        ...(logic === undefined ? {} : { mermaid: toMermaid(logic, { current: view.value }) }),
      };
    }),
  );
  app.get(
    '/api/actor',
    handle(async (request) => {
      const key = String(query(request)['key'] ?? '');
      const lock = config.config.lock;
      const view = await readStoredActor(
        { storage: requireStorage(config), ...(lock === undefined ? {} : { lock }) },
        key,
      );
      if (view === undefined)
        throw new CliError(ExitCode.NOT_FOUND, `no actor stored at ${JSON.stringify(key)}`);
      return view;
    }),
  );
}
