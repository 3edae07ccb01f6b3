import type {
  StepMemo,
  SuspendOptions,
  WorkflowOutcome,
  WorkflowRecord,
} from './workflow-store.js';
import { workflowTransitions } from './workflow-store.js';

/** A claim holder's change: the record (its claim checked to be held) and the time → the record to store. */
export type ClaimTransition = (record: WorkflowRecord, now: number) => WorkflowRecord;

/**
 * The five writes of a {@link WorkflowStore} that only the claim holder may make (`heartbeat`,
 * `saveStep`, `suspend`, `release`, `finish`), each one of the shared {@link workflowTransitions}.
 * A store extends this class and implements `underClaim` once: read the record, refuse it with
 * `assertClaimHeld` unless `token` still holds the claim, apply the transition, and store the
 * result atomically (compare-and-swap, or under a lock), refusing a lost claim with `LOCK_LOST`.
 * Our memory, storage-backed and MongoDB stores do; a third-party store can too.
 */
export abstract class ClaimWrites {
  /** Applies `apply` to workflow `id` while `token` holds its claim, and returns the stored result. */
  protected abstract underClaim(
    id: string,
    token: string,
    operation: string,
    apply: ClaimTransition,
  ): Promise<WorkflowRecord>;

  /** Called after `finish` stored `record` (for an index of unfinished workflows, say). */
  protected async finished(_id: string, _record: WorkflowRecord): Promise<void> {}

  async heartbeat(id: string, token: string, leaseMs: number): Promise<number> {
    const next = await this.underClaim(id, token, 'heartbeat', (r, now) =>
      workflowTransitions.heartbeat(r, token, leaseMs, now),
    );
    return next.claim?.expiresAt ?? 0;
  }

  async saveStep(id: string, token: string, index: number, memo: StepMemo): Promise<void> {
    await this.underClaim(id, token, 'saveStep', (r, now) =>
      workflowTransitions.saveStep(r, token, index, memo, now),
    );
  }

  async suspend(id: string, token: string, options: SuspendOptions): Promise<void> {
    await this.underClaim(id, token, 'suspend', (r, now) =>
      workflowTransitions.suspend(r, token, options, now),
    );
  }

  async release(id: string, token: string): Promise<void> {
    await this.underClaim(id, token, 'release', (r, now) =>
      workflowTransitions.release(r, token, now),
    );
  }

  async finish(id: string, token: string, outcome: WorkflowOutcome): Promise<void> {
    const next = await this.underClaim(id, token, 'finish', (r, now) =>
      workflowTransitions.finish(r, token, outcome, now),
    );
    await this.finished(id, next);
  }
}
