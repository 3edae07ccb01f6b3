// A fault-injecting HTTP proxy for adapter tests: it forwards each request to the real test
// server, lets the server apply it, and then, when told to, cuts the client's connection instead
// of passing the reply on. The client sees a reset connection after a request that *was* applied:
// the case where an SDK's automatic retry meets its own write. Plain HTTP/1.1 only.
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the proxy's filter sees it. */
export interface ProxiedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** Options for {@link startLostReplyProxy}. */
export interface LostReplyProxyOptions {
  /** The real server, e.g. `http://127.0.0.1:4569`. */
  target: string;
  /** Which requests may lose their reply (e.g. only writes). @default every request */
  drops?: (request: ProxiedRequest) => boolean;
  /** Random source of the drop rate, in [0, 1). @default Math.random */
  random?: () => number;
  /**
   * Runs after the server applied a request whose reply will be lost, before the client learns of
   * it (so before its retry): lets a test put another writer's change exactly there.
   */
  onLostReply?: (request: ProxiedRequest) => void | Promise<void>;
}

/** A running proxy; point the client's endpoint at `endpoint`. */
export interface LostReplyProxy {
  /** `http://127.0.0.1:<port>` of the proxy. */
  readonly endpoint: string;
  /** The next request that `drops` selects is applied by the server, and its reply is lost. */
  dropNextReply(): void;
  /** Drops armed by {@link dropNextReply} that no request has used yet. */
  dropsPending(): number;
  /** Chaos mode: every selected reply is lost with probability `rate` (0 turns it off). */
  setDropRate(rate: number): void;
  /** Requests forwarded and replies dropped so far. */
  readonly stats: { forwarded: number; dropped: number };
  /** Stops listening and cuts every open connection. */
  close(): Promise<void>;
}

/** Starts a {@link LostReplyProxy} on 127.0.0.1 in front of `options.target`. */
export async function startLostReplyProxy(options: LostReplyProxyOptions): Promise<LostReplyProxy> {
  const target = new URL(options.target);
  const selects = options.drops ?? (() => true);
  const random = options.random ?? Math.random;
  let armed = 0;
  let rate = 0;
  const stats = { forwarded: 0, dropped: 0 };

  const handle = (incoming: IncomingMessage, outgoing: ServerResponse): void => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const seen: ProxiedRequest = {
        method: incoming.method ?? 'GET',
        url: incoming.url ?? '/',
        headers: incoming.headers,
      };
      // Decided when the request arrives, so with several in flight the drop goes to the first.
      let drop = false;
      if (selects(seen)) {
        if (armed > 0) {
          armed--;
          drop = true;
        } else if (rate > 0 && random() < rate) {
          drop = true;
        }
      }
      stats.forwarded++;
      const upstream = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: seen.method,
          path: seen.url,
          headers: incoming.headers,
        },
        (reply) => {
          const body: Buffer[] = [];
          reply.on('data', (chunk: Buffer) => body.push(chunk));
          reply.on('end', () => {
            // The server has applied the request and sent its whole reply: now lose it.
            if (drop) {
              stats.dropped++;
              void Promise.resolve()
                .then(() => options.onLostReply?.(seen))
                .catch(() => undefined)
                .finally(() => incoming.socket.destroy());
              return;
            }
            outgoing.writeHead(reply.statusCode ?? 502, reply.headers);
            outgoing.end(Buffer.concat(body));
          });
          reply.on('error', () => incoming.socket.destroy());
        },
      );
      upstream.on('error', () => incoming.socket.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    dropNextReply: () => {
      armed++;
    },
    dropsPending: () => armed,
    setDropRate: (value: number) => {
      rate = value;
    },
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
