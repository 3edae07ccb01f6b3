// TEST INFRASTRUCTURE: a fault-injecting HTTP proxy in front of a real S3 server (moto or
// s3rver). Neither server ever answers S3's `409 ConditionalRequestConflict` (real S3 sends it
// when another conditional write on the same key is in progress; moto 5.2.5 checks a condition
// and writes with no notion of "in progress", s3rver has no conditional writes at all), so when
// armed, this proxy answers the next selected request itself with the 409 S3 sends, body and
// headers shaped as S3's, without forwarding it: the server never sees it, as S3 applies nothing
// when it answers 409. Every other request is forwarded unchanged. Plain HTTP/1.1 only.
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the proxy's filter sees it. */
export interface ConflictProxyRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}

/** A running proxy; point the client's endpoint at `endpoint`. */
export interface ConflictProxy {
  readonly endpoint: string;
  /**
   * The next `count` selected requests are answered 409 ConditionalRequestConflict (not
   * forwarded). `before` runs (awaited) before each of those answers is sent: another writer's
   * change that lands while ours is refused, as when S3 answers 409 to the loser of a race.
   */
  conflictNext(count?: number, before?: () => Promise<void>): void;
  /** Armed 409s no request has used yet. */
  conflictsPending(): number;
  /** Requests answered 409 so far, and requests forwarded. */
  readonly stats: { conflicts: number; forwarded: number };
  close(): Promise<void>;
}

/** True for a conditional write or delete of an object: what S3 can answer 409 ConditionalRequestConflict. */
export function isConditionalChange(request: ConflictProxyRequest): boolean {
  const conditional =
    request.headers['if-match'] !== undefined || request.headers['if-none-match'] !== undefined;
  return conditional && (request.method === 'PUT' || request.method === 'DELETE');
}

/** The XML body S3 sends with a 409 ConditionalRequestConflict (the message is S3's). */
export function conditionalRequestConflictXml(requestId: string, resource: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    '<Error><Code>ConditionalRequestConflict</Code>' +
    '<Message>A conflicting operation occurred. If using PutObject you can retry the request. ' +
    'If using multipart upload you should initiate another CreateMultipartUpload request and re-upload each part.</Message>' +
    `<Resource>${resource.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</Resource>` +
    `<RequestId>${requestId}</RequestId><HostId>${randomBytes(24).toString(
      'base64',
    )}</HostId></Error>`
  );
}

/** Starts a {@link ConflictProxy} on 127.0.0.1 in front of `target` (`http://127.0.0.1:<port>`). */
export async function startConflictProxy(options: {
  target: string;
  /** Which requests an armed 409 may answer. @default {@link isConditionalChange} */
  selects?: (request: ConflictProxyRequest) => boolean;
}): Promise<ConflictProxy> {
  const target = new URL(options.target);
  const selects = options.selects ?? isConditionalChange;
  // One entry per armed 409: what to run before answering it.
  const armed: Array<(() => Promise<void>) | undefined> = [];
  const stats = { conflicts: 0, forwarded: 0 };

  const handle = (incoming: IncomingMessage, outgoing: ServerResponse): void => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const seen: ConflictProxyRequest = {
        method: incoming.method ?? 'GET',
        url: incoming.url ?? '/',
        headers: incoming.headers,
      };
      if (armed.length > 0 && selects(seen)) {
        const before = armed.shift();
        stats.conflicts++;
        const requestId = randomBytes(8).toString('hex').toUpperCase();
        const body = Buffer.from(
          conditionalRequestConflictXml(requestId, new URL(seen.url, 'http://x').pathname),
          'utf8',
        );
        const answer = (): void => {
          outgoing.writeHead(409, {
            'content-type': 'application/xml',
            'content-length': String(body.length),
            'x-amz-request-id': requestId,
            date: new Date().toUTCString(),
            server: 'AmazonS3',
          });
          outgoing.end(body);
        };
        if (before === undefined) answer();
        else
          before().then(answer, (error: unknown) => {
            console.error('conflict proxy: the hook before a 409 failed', error);
            incoming.socket.destroy();
          });
        return;
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
          outgoing.writeHead(reply.statusCode ?? 502, reply.headers);
          reply.pipe(outgoing);
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
    conflictNext: (count = 1, before) => {
      for (let i = 0; i < count; i++) armed.push(before);
    },
    conflictsPending: () => armed.length,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
