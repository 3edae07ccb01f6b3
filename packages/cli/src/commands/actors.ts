import { readStoredActor } from '@durable/core/actor';
import { requireStorage } from '../config.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { brief, formatTime } from '../output.js';
import type { CommandContext } from './context.js';

/** `durable actors show <key>`: a stored actor's machine, state, context and lease holder. */
export async function actorShowCommand(
  ctx: CommandContext,
  key: string,
  options: { json?: boolean },
): Promise<void> {
  const loaded = await ctx.config();
  const storage = requireStorage(loaded);
  const view = await readStoredActor(
    { storage, ...(loaded.config.lock === undefined ? {} : { lock: loaded.config.lock }) },
    key,
  );
  if (view === undefined)
    throw new CliError(ExitCode.NOT_FOUND, `no actor stored at ${JSON.stringify(key)}`);
  const { out } = ctx;
  const c = out.color;
  if (options.json === true) {
    out.json(view);
    return;
  }
  out.line(`${c.bold('actor')} ${view.key}`);
  const holder = !view.holderKnown
    ? c.dim('unknown (no lock that can tell)')
    : view.holder === undefined
      ? 'none'
      : `fencing token ${view.holder.fencingToken}, until ${formatTime(view.holder.expiresAt)}`;
  const facts: Array<[string, string]> = [
    ['machine', `${view.machine.id} version ${view.machine.version}`],
    ['state', c.cyan(typeof view.value === 'string' ? view.value : brief(view.value, 200))],
    ['status', String(view.status)],
    ['saved', formatTime(view.savedAt)],
    ['lease', holder],
  ];
  for (const [label, value] of facts) out.line(`  ${c.dim(label.padEnd(8))} ${value}`);
  out.line(c.bold('context'));
  out.line(JSON.stringify(view.context, null, 2) ?? 'undefined');
}
