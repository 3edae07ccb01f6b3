// The Mongo benches' server: @durable/test-support's launcher (mongo-java-server or FerretDB on
// 127.0.0.1 and a free port, or MONGODB_URI). Each result's label says whose figures they are:
// never MongoDB's unless MONGODB_URI names a MongoDB.
import { startMongoTestServer } from '@durable/test-support';

/** Starts `kind` ('ferretdb' or 'mongo-java-server'), or uses MONGODB_URI: `{ uri, label, stop }`. */
export async function startServer(kind) {
  return startMongoTestServer(kind);
}
