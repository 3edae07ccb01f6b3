// TEST INFRASTRUCTURE: a TCP proxy between the MongoDB driver and the server that can lose the
// reply of a write: the command reaches the server and is applied, then the proxy cuts the
// connection instead of passing the answer on (what a network failure after the request looks
// like to the driver). It reads the wire protocol's OP_MSG framing to find the command's name.
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';

/** Commands that change data: their replies are the ones a test may drop. */
const WRITE_COMMANDS = new Set(['insert', 'update', 'delete', 'findAndModify', 'findandmodify']);
const OP_MSG = 2013;

/** A running proxy. */
export interface MongoLostReplyProxy {
  /** `mongodb://127.0.0.1:<port>/?directConnection=true` for the driver. */
  readonly uri: string;
  /**
   * The next write command is applied by the server and its reply is lost. `between`, when given,
   * runs after the server applied it and before the client learns anything (the connection is cut
   * once it settles): another writer's change goes exactly there.
   */
  dropNextReply(between?: () => Promise<void>): void;
  /** Drops armed and not used yet. */
  dropsPending(): number;
  /** Replies dropped so far. */
  dropped(): number;
  close(): Promise<void>;
}

/** Starts a proxy in front of `host:port` on a free local port. */
export async function startMongoLostReplyProxy(target: {
  host: string;
  port: number;
}): Promise<MongoLostReplyProxy> {
  const armed: Array<(() => Promise<void>) | undefined> = [];
  let dropped = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(target);
    sockets.add(client).add(upstream);
    const doomed = new Map<number, (() => Promise<void>) | undefined>();
    let fromClient = Buffer.alloc(0);
    let fromServer = Buffer.alloc(0);
    const cut = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      fromClient = Buffer.concat([fromClient, chunk]);
      for (;;) {
        if (fromClient.length < 16) break;
        const length = fromClient.readInt32LE(0);
        if (fromClient.length < length) break;
        const message = fromClient.subarray(0, length);
        fromClient = fromClient.subarray(length);
        if (armed.length > 0 && WRITE_COMMANDS.has(commandName(message) ?? '')) {
          doomed.set(message.readInt32LE(4), armed.shift());
        }
        upstream.write(message);
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      fromServer = Buffer.concat([fromServer, chunk]);
      for (;;) {
        if (fromServer.length < 16) break;
        const length = fromServer.readInt32LE(0);
        if (fromServer.length < length) break;
        const message = fromServer.subarray(0, length);
        fromServer = fromServer.subarray(length);
        const responseTo = message.readInt32LE(8);
        if (doomed.has(responseTo)) {
          dropped++;
          const between = doomed.get(responseTo);
          upstream.pause();
          void Promise.resolve()
            .then(() => between?.())
            .catch(() => undefined)
            .finally(cut);
          return;
        }
        client.write(message);
      }
    });
    for (const socket of [client, upstream]) {
      socket.on('error', cut);
      socket.on('close', () => {
        sockets.delete(socket);
        cut();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    uri: `mongodb://127.0.0.1:${port}/?directConnection=true`,
    dropNextReply: (between) => {
      armed.push(between);
    },
    dropsPending: () => armed.length,
    dropped: () => dropped,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// OP_MSG: header (16 bytes), flagBits (4), then sections; kind 0 holds the command document,
// whose first element's name is the command.
function commandName(message: Buffer): string | undefined {
  if (message.readInt32LE(12) !== OP_MSG) return undefined;
  let offset = 20;
  while (offset < message.length) {
    const kind = message[offset];
    if (kind === 0) {
      const name = message.indexOf(0, offset + 6);
      return name > offset + 6 ? message.toString('utf8', offset + 6, name) : undefined;
    }
    // kind 1: a size-prefixed document sequence; skip it.
    offset += 1 + message.readInt32LE(offset + 1);
  }
  return undefined;
}
