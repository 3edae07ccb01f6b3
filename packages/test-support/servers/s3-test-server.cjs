// TEST INFRASTRUCTURE, NOT PART OF THE PUBLISHED PACKAGE.
//
// An S3 endpoint for tests: s3rver (npm) wrapped with a small Koa layer of our own, because no
// emulator on npm enforces S3 conditional writes and real S3 has enforced them since 2024.
// The layer:
//   - answers 412 PreconditionFailed when `If-None-Match: *` (PUT) finds the object, or when
//     `If-Match: <etag>` (PUT, DELETE) finds another ETag, and 404 NoSuchKey when `If-Match`
//     finds no object (what S3 answers);
//   - serialises every request on one object key (until its response is fully sent), so a
//     compare-and-swap is linearisable;
//   - answers a request carrying `x-durable-test-fault: <status> <Code>` with that error (for
//     the error-mapping tests);
//   - replaces s3rver's putObject with one that writes temp files, waits for them to be flushed
//     and renames them into place: s3rver's own resolves before its body is on disk, so a read
//     right after it could see torn bytes; and mends, at start, an object torn by a kill
//     between its content and its metadata (the kill-and-restart tests do that).
//
// Run as a child process (see s3-server.ts): `node s3-test-server.cjs <dir> [port]`. It prints
// one JSON line `{"port": N}` when listening. s3rver needs NODE_OPTIONS=--openssl-legacy-provider
// for ListObjectsV2 continuation tokens on Node 17+; the launcher sets it.
'use strict';

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const S3rver = require('s3rver');

const directory = process.argv[2];
const port = Number(process.argv[3] ?? 0);
if (!directory) {
  console.error('usage: s3-test-server.cjs <dir> [port]');
  process.exit(2);
}
const BUCKETS = (process.env.S3_TEST_BUCKETS ?? 'durable-test').split(',');

const server = new S3rver({
  address: '127.0.0.1',
  port,
  silent: true,
  directory,
  configureBuckets: BUCKETS.map((name) => ({ name })),
});

// Atomic, flushed putObject (see the header). The object, its metadata (our write id lives
// there) and its MD5 (the ETag) are three files: each is written to a temp file and renamed into
// place, content first and MD5 last, so a kill between the renames leaves an MD5 that does not
// match the content, which repairTornObjects() finds and mends at the next start.
const { ALLOWED_METADATA } = require('s3rver/lib/models/object');
const store = server.store;
store.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const content = Buffer.isBuffer(object.content) ? object.content : await collect(object.content);
  const md5 = crypto.createHash('md5').update(content).digest('hex');
  const metadata = {};
  for (const [name, value] of Object.entries(object.metadata ?? {})) {
    if (ALLOWED_METADATA.includes(name) || name.startsWith('x-amz-meta-')) metadata[name] = value;
  }
  await replaceFile(objectPath, content);
  await replaceFile(
    this.getResourcePath(object.bucket, object.key, 'metadata.json'),
    JSON.stringify(metadata, null, 2),
  );
  await replaceFile(this.getResourcePath(object.bucket, object.key, 'object.md5'), md5);
  return { size: content.length, md5 };
};

async function replaceFile(target, data) {
  const temp = `${target}.${process.pid}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  const handle = await fs.promises.open(temp, 'w');
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
  await fs.promises.rename(temp, target);
}

// After a kill in the middle of putObject: an object whose MD5 file does not match its content
// gets the right MD5, and loses the durable write-id metadata that may belong to the write
// before (a writer must not take another write's content for its own); leftover temp files go.
function repairTornObjects(dir) {
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      repairTornObjects(full);
    } else if (entry.name.endsWith('.tmp')) {
      fs.rmSync(full, { force: true });
    } else if (entry.name.endsWith('._S3rver_object')) {
      const md5 = crypto.createHash('md5').update(fs.readFileSync(full)).digest('hex');
      const md5Path = `${full}.md5`;
      if (fs.existsSync(md5Path) && fs.readFileSync(md5Path, 'utf8') === md5) continue;
      const metadataPath = full.replace(/_object$/, '_metadata.json');
      let metadata = {};
      try {
        metadata = JSON.parse(fs.readFileSync(metadataPath, 'utf8'));
      } catch {
        // missing or unreadable: start from none
      }
      delete metadata['x-amz-meta-durable-write'];
      delete metadata['x-amz-meta-durable-if'];
      fs.writeFileSync(metadataPath, JSON.stringify(metadata, null, 2));
      fs.writeFileSync(md5Path, md5);
    }
  }
}
repairTornObjects(directory);

function collect(stream) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(Buffer.from(chunk)));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

// Per-object-key FIFO: the tail promise of each key's queue.
const queues = new Map();

function objectOf(ctx) {
  // Path-style only: /bucket/key...
  const url = new URL(ctx.req.url, 'http://localhost');
  const parts = url.pathname.split('/');
  if (parts.length < 3 || parts[2] === '') return undefined;
  // The SDK adds `x-id=PutObject` and the like; any other parameter is a subresource (tagging,
  // multipart, ...) that the conditional layer leaves alone.
  const subresource = [...url.searchParams.keys()].some((name) => name !== 'x-id');
  return {
    bucket: decodeURIComponent(parts[1]),
    key: decodeURIComponent(parts.slice(2).join('/')),
    subresource,
  };
}

async function currentEtag(bucket, key) {
  try {
    await fs.promises.access(store.getResourcePath(bucket, key, 'object'));
    const metadataPath = store.getResourcePath(bucket, key, 'object.md5');
    return JSON.stringify((await fs.promises.readFile(metadataPath)).toString());
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  }
}

function fail(ctx, status, code, message) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

function finished(ctx) {
  return new Promise((resolve) => {
    if (ctx.res.writableFinished || ctx.res.destroyed) return resolve();
    ctx.res.once('finish', resolve);
    ctx.res.once('close', resolve);
  });
}

// Fault injection for tests of error mapping: a request carrying
// `x-durable-test-fault: <status> <Code>` is answered with that S3 error and touches nothing.
function faultLayer(ctx, next) {
  const fault = ctx.get('x-durable-test-fault');
  if (!fault) return next();
  const [status, code] = fault.split(' ');
  return fail(ctx, Number(status), code ?? 'InternalError', `injected ${fault}`);
}

async function conditionalLayer(ctx, next) {
  const target = objectOf(ctx);
  if (target === undefined) return next();
  const id = `${target.bucket}/${target.key}`;
  const previous = queues.get(id) ?? Promise.resolve();
  let done;
  const mine = new Promise((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  queues.set(id, tail);
  await previous;
  try {
    const method = ctx.method;
    const plainObjectRequest = !target.subresource && !ctx.get('x-amz-copy-source');
    if (plainObjectRequest && (method === 'PUT' || method === 'DELETE')) {
      const ifNoneMatch = ctx.get('if-none-match');
      const ifMatch = ctx.get('if-match');
      if (ifNoneMatch || ifMatch) {
        const etag = await currentEtag(target.bucket, target.key);
        if (ifNoneMatch === '*' && method === 'PUT' && etag !== undefined) {
          return fail(
            ctx,
            412,
            'PreconditionFailed',
            'At least one of the pre-conditions you specified did not hold',
          );
        }
        if (ifMatch) {
          if (etag === undefined)
            return fail(ctx, 404, 'NoSuchKey', 'The specified key does not exist.');
          const wanted = ifMatch.startsWith('"') ? ifMatch : JSON.stringify(ifMatch);
          if (ifMatch !== '*' && wanted !== etag) {
            return fail(
              ctx,
              412,
              'PreconditionFailed',
              'At least one of the pre-conditions you specified did not hold',
            );
          }
        }
      }
    }
    await next();
  } finally {
    // Hold the key until the response is on the wire, then let the next request in.
    finishedSoon(ctx).then(() => {
      done();
      if (queues.get(id) === tail) queues.delete(id);
    });
  }
}

function finishedSoon(ctx) {
  return ctx.respond === false
    ? Promise.resolve()
    : new Promise((resolve) => setImmediate(() => finished(ctx).then(resolve)));
}

server.middleware.unshift(faultLayer, conditionalLayer);

server.run().then(
  (address) => {
    process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close().finally(() => process.exit(0));
  });
}
