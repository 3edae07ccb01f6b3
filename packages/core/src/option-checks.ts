import { DurableError, ErrorCode } from './errors.js';
import { describeValue } from './lock-options.js';

/** What {@link checkOptions} accepts of an options object. */
export interface OptionRules {
  /** Every key the options may carry. */
  known: readonly string[];
  /** Keys that must be present (not `undefined`). */
  required?: readonly string[];
  /**
   * Keys users bring from the libraries they migrate from (or from older names), with what to use
   * instead: `{ storageManager: 'storage' }`. Named in the error message.
   */
  renamed?: Readonly<Record<string, string>>;
}

/**
 * Throws `CONFIG` (never retryable, before any I/O) unless `options` is an object with only
 * `known` keys and every `required` key: a misspelt or a seed library's option name would
 * otherwise be ignored in silence, or fail later as a misleading backend error.
 */
export function checkOptions(options: unknown, context: string, rules: OptionRules): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new DurableError(
      ErrorCode.CONFIG,
      `${context}: options must be an object, got ${describeValue(options)}`,
    );
  }
  const known = new Set(rules.known);
  for (const key of Object.keys(options)) {
    if (known.has(key)) continue;
    const instead = rules.renamed?.[key];
    throw new DurableError(
      ErrorCode.CONFIG,
      instead === undefined
        ? `${context}: unknown option "${key}"; the options are: ${rules.known.join(', ')}`
        : `${context}: option "${key}" is not ours; use ${instead}`,
      { details: { option: key } },
    );
  }
  for (const key of rules.required ?? []) {
    if ((options as Record<string, unknown>)[key] === undefined) {
      const seedName = Object.entries(rules.renamed ?? {}).find(
        ([, ours]) => ours.split(/\W/)[0] === key,
      )?.[0];
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: option "${key}" is required${
          seedName === undefined ? '' : ` (the seed library called it "${seedName}")`
        }`,
        { details: { option: key } },
      );
    }
  }
}
