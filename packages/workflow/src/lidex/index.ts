export { LidexClient, makeClient } from './client.js';
export type { LidexClientOptions, LidexContext, LidexStatus } from './client.js';
export type { ManyStart } from '../engine.js';
export type { DrainOptions, PollOptions, StartOptions } from '../engine.js';
export type { WorkflowHandler } from '../options.js';
