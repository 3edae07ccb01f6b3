// TEST INFRASTRUCTURE: the Mongo tests' servers (MONGODB_URI, or one started by the shared
// launcher), and the loud skip when none can be had.
import type { MongoServerKind } from '../../../../scripts/test-servers/mongo-server.js';
import { mongoTestServerAvailability } from '../../../../scripts/test-servers/mongo-server.js';

export { startMongoTestServer } from '../../../../scripts/test-servers/mongo-server.js';
export type {
  MongoServerKind,
  MongoTestServer,
} from '../../../../scripts/test-servers/mongo-server.js';

/** Whether a server of this kind can be had; when not, registers one passing test whose name says SKIPPED, and warns. */
export function mongoServerOrSkip(
  what: string,
  kind: MongoServerKind,
  options: { useUri?: boolean } = {},
): boolean {
  const availability = mongoTestServerAvailability(kind, options);
  if (availability.available) return true;
  const message = `SKIPPED: ${what}: ${availability.reason}`;
  test(message, () => {
    console.warn(`@durable/mongo: ${message}`);
    expect(availability.available).toBe(false);
  });
  return false;
}
