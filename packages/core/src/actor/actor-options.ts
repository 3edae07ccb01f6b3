import { DurableError, ErrorCode } from '../errors.js';
import { describeValue } from '../lock-options.js';
import { checkOptions } from '../option-checks.js';

/** Option names of the libraries users migrate from (durable-x-state, xOrca, unified-serverless-storage), with ours. */
const RENAMED = {
  storageManager: 'storage (a StorageManager; pass the lock as lock)',
  lockingManager: 'lock',
  lockManager: 'lock',
  persistence: 'storage (and lock)',
  statemachine: 'actorCreator (build the actor from your machine)',
  lockTtlMs: 'ttlMs (the lease duration, as LockManager.acquire names it)',
  acquireLockMaxTimeout: 'waitMs (how long to wait for the lease, as LockManager.acquire names it)',
} as const;

const KNOWN = [
  'id',
  'storage',
  'lock',
  'locking',
  'waitMs',
  'ttlMs',
  'version',
  'acceptVersions',
  'machineId',
  'actorCreator',
  'clock',
  'logger',
] as const;

/**
 * @internal Checks a persisted actor's options before any I/O: unknown keys, those of the
 * libraries users migrate from, the required ones, and the shape of storage, lock, actorCreator
 * and logger. All `CONFIG`, never a `BACKEND` error that a consumer would retry forever.
 */
export function checkActorOptions(options: unknown, context: string): void {
  checkOptions(options, context, {
    known: KNOWN,
    required: ['id', 'storage', 'actorCreator'],
    renamed: RENAMED,
  });
  const record = options as Record<string, unknown>;
  assertMethods(record['storage'], ['read', 'write'], 'storage', 'a StorageManager', context);
  if (record['lock'] !== undefined)
    assertMethods(record['lock'], ['acquire'], 'lock', 'a LockManager', context);
  if (typeof record['actorCreator'] !== 'function') {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: actorCreator must be a function (id, snapshot) => createActor(...), got ${describeValue(
        record['actorCreator'],
      )}`,
      {
        details: { option: 'actorCreator' },
      },
    );
  }
  if (record['logger'] !== undefined)
    assertMethods(record['logger'], ['warn'], 'logger', 'a pino-shaped logger', context);
  if (
    record['version'] !== undefined &&
    (typeof record['version'] !== 'string' || record['version'] === '')
  ) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: version must be a non-empty string, got ${describeValue(record['version'])}`,
      {
        details: { option: 'version' },
      },
    );
  }
}

/** @internal `CONFIG` unless `value` is an object with these methods. */
export function assertMethods(
  value: unknown,
  methods: readonly string[],
  option: string,
  what: string,
  context: string,
): void {
  const ok =
    typeof value === 'object' &&
    value !== null &&
    methods.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');
  if (!ok) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: ${option} must be ${what} (with ${methods.join(', ')}), got ${describeValue(
        value,
      )}`,
      {
        details: { option },
      },
    );
  }
}
