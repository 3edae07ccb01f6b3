export { PersistedActor } from './persisted-actor.js';
export type { ActorCreator, PersistedActorOptions } from './persisted-actor.js';
export { inspectPersistedActor, withPersistedActor } from './with-persisted-actor.js';
export type { PersistedActorView } from './with-persisted-actor.js';
export { DEFAULT_LOCK_TTL_MS, DEFAULT_WAIT_PER_TTL, LockingMode } from './locking.js';
export type { DurableLogger } from './logger.js';
export { ACTOR_ENVELOPE_FORMAT, decodeEnvelope, encodeEnvelope } from './envelope.js';
export type { ActorEnvelope, MachineRef } from './envelope.js';
