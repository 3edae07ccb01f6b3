import type { AnyStateMachine, ContextFrom, SnapshotFrom } from 'xstate';

// xstate's SnapshotFrom and ContextFrom do not distribute over a union of machines (they give
// never), and a process registered with several versions runs one of them: distribute here.

/** The snapshot of `TLogic`, or the union of the snapshots when it is a union of machines. */
export type MachineSnapshotOf<TLogic extends AnyStateMachine> = TLogic extends AnyStateMachine
  ? SnapshotFrom<TLogic>
  : never;

/** The context of `TLogic`, or the union of the contexts when it is a union of machines. */
export type MachineContextOf<TLogic extends AnyStateMachine> = TLogic extends AnyStateMachine
  ? ContextFrom<TLogic>
  : never;
