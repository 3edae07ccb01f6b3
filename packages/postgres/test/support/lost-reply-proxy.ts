// TEST INFRASTRUCTURE: a TCP proxy between the pg driver and PostgreSQL that can lose the reply of
// a write: the statement reaches the server and is committed, then the proxy cuts the connection
// instead of passing the answer on (what a network failure after the request looks like to the
// driver). It reads the wire protocol's framing: the client's Parse / Bind / Query messages tell
// which statement a Sync completes, the server's ReadyForQuery ends its answer.
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/** A running proxy. */
export interface PgLostReplyProxy {
  /** `postgresql://...` through the proxy (same user and database as the target). */
  readonly url: string;
  /** The next write statement is committed by the server and its reply is lost. */
  dropNextReply(): void;
  /** Drops armed and not used yet. */
  dropsPending(): number;
  /** Replies dropped so far. */
  dropped(): number;
  close(): Promise<void>;
}

// Statements that change data; the migrations' bookkeeping and the settling queries are not ours to drop.
function isWrite(sql: string): boolean {
  return (
    /^\s*(INSERT|UPDATE|DELETE|WITH)\b/i.test(sql) &&
    /\b(INSERT|UPDATE|DELETE)\b/.test(sql) &&
    !/schema_versions|pg_stat_activity/.test(sql)
  );
}

/** Starts a proxy in front of the server of `target` (a postgresql:// URL) on a free local port. */
export async function startPgLostReplyProxy(target: string): Promise<PgLostReplyProxy> {
  const address = new URL(target);
  let armed = 0;
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({
      host: address.hostname,
      port: Number(address.port || 5432),
    });
    sockets.add(client).add(upstream);
    const statements = new Map<string, string>();
    // One entry per Sync or Query sent: whether its answer is to be lost.
    const cycles: boolean[] = [];
    let writing = false;
    let started = false;
    let fromClient = Buffer.alloc(0);
    let fromServer = Buffer.alloc(0);
    let holding = false;
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      fromClient = Buffer.concat([fromClient, chunk]);
      for (;;) {
        if (!started) {
          if (fromClient.length < 4) break;
          const length = fromClient.readInt32BE(0);
          if (fromClient.length < length) break;
          started = true;
          upstream.write(fromClient.subarray(0, length));
          fromClient = fromClient.subarray(length);
          continue;
        }
        if (fromClient.length < 5) break;
        const type = String.fromCharCode(fromClient[0] as number);
        const length = fromClient.readInt32BE(1);
        if (fromClient.length < length + 1) break;
        const body = fromClient.subarray(5, length + 1);
        if (type === 'P') {
          const nameEnd = body.indexOf(0);
          const queryEnd = body.indexOf(0, nameEnd + 1);
          statements.set(
            body.subarray(0, nameEnd).toString(),
            body.subarray(nameEnd + 1, queryEnd).toString(),
          );
        } else if (type === 'B') {
          const portalEnd = body.indexOf(0);
          const name = body.subarray(portalEnd + 1, body.indexOf(0, portalEnd + 1)).toString();
          if (isWrite(statements.get(name) ?? '')) writing = true;
        } else if (type === 'S' || type === 'Q') {
          if (type === 'Q' && isWrite(body.subarray(0, body.indexOf(0)).toString())) writing = true;
          const doomed = writing && armed > 0;
          if (doomed) armed--;
          cycles.push(doomed);
          writing = false;
        }
        upstream.write(fromClient.subarray(0, length + 1));
        fromClient = fromClient.subarray(length + 1);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      fromServer = Buffer.concat([fromServer, chunk]);
      for (;;) {
        if (fromServer.length < 5) break;
        const type = String.fromCharCode(fromServer[0] as number);
        const length = fromServer.readInt32BE(1);
        if (fromServer.length < length + 1) break;
        const message = fromServer.subarray(0, length + 1);
        fromServer = fromServer.subarray(length + 1);
        if (!holding && cycles[0] === true) holding = true;
        if (type === 'Z' && cycles.length > 0) {
          const doomed = cycles.shift();
          if (doomed === true) {
            // The server has committed the statement and answered: lose the answer.
            dropped++;
            cut();
            return;
          }
        }
        if (!holding) client.write(message);
      }
    });
    const forget = (): void => {
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', cut).on('close', () => (upstream.destroy(), forget()));
    upstream.on('error', cut).on('close', () => (client.destroy(), forget()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    dropNextReply: () => {
      armed++;
    },
    dropsPending: () => armed,
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
