export { PersistedActor, withPersistedActor, LockingMode } from './persisted-actor.js';
export type { ActorCreator, PersistedActorOptions } from './persisted-actor.js';
export { ACTOR_ENVELOPE_FORMAT, decodeEnvelope, encodeEnvelope } from './envelope.js';
export type { ActorEnvelope, MachineRef } from './envelope.js';
