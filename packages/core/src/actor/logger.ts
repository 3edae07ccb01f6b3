export { consoleLogger, reportAfterCommit } from '../logger.js';
export type { DurableLogger } from '../logger.js';
