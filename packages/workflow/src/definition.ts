import { DurableError, ErrorCode } from '@durable/core';
import type { WorkflowContext } from './context-api.js';

/**
 * A workflow defined once with its types: its name (stored with each run, so it must stay the
 * same across deploys), its input and its result. Made by {@link defineWorkflow}.
 */
export interface WorkflowDefinition<
  Name extends string = string,
  Input = unknown,
  Result = unknown,
> {
  /** The name stored with each workflow; workers find the function by it. */
  readonly name: Name;
  /** The workflow function: runs again from the top after a crash or a sleep. */
  readonly run: (ctx: WorkflowContext, input: Input) => Promise<Result> | Result;
}

/** Any workflow definition, whatever its types. */
export interface AnyWorkflow {
  /** The definition's name. */
  readonly name: string;
  // Method syntax keeps `run`'s parameters bivariant, so every definition is assignable to it.
  /** The definition's function. */
  run(ctx: WorkflowContext, input: never): unknown;
}

/** The input type of a workflow definition. */
export type WorkflowInput<W> =
  W extends WorkflowDefinition<string, infer Input, unknown> ? Input : never;

/** The result type of a workflow definition (what `handle.result()` resolves with). */
export type WorkflowResult<W> =
  W extends WorkflowDefinition<string, never, infer Result> ? Result : never;

/**
 * Defines a workflow: `defineWorkflow('collectPayment', async (ctx, input: Invoice) => ...)`.
 * The input and result types follow the function into `client.start` and `handle.result()`.
 */
export function defineWorkflow<const Name extends string, Input = undefined, Output = unknown>(
  name: Name,
  run: (ctx: WorkflowContext, input: Input) => Output,
): WorkflowDefinition<Name, Input, Awaited<Output>> {
  if (typeof name !== 'string' || name.length === 0)
    throw new DurableError(
      ErrorCode.CONFIG,
      `workflow: defineWorkflow needs a non-empty name, got ${String(name)}`,
    );
  if (typeof run !== 'function')
    throw new DurableError(
      ErrorCode.CONFIG,
      `workflow: defineWorkflow ${JSON.stringify(name)} needs a function`,
    );
  return Object.freeze({
    name,
    run: run as WorkflowDefinition<Name, Input, Awaited<Output>>['run'],
  });
}

/** True when `value` looks like a {@link WorkflowDefinition} (a name and a function). */
export function isWorkflowDefinition(value: unknown): value is AnyWorkflow {
  try {
    return (
      typeof value === 'object' &&
      value !== null &&
      typeof (value as AnyWorkflow).name === 'string' &&
      typeof (value as AnyWorkflow).run === 'function'
    );
  } catch {
    return false;
  }
}
