import type {
  WorkflowListQuery,
  WorkflowPage,
  WorkflowStatus,
  WorkflowSummary,
} from '@durable/core';
import {
  cancelWorkflow,
  countWorkflowsByStatus,
  listWorkflows,
  resumeWorkflow,
} from '@durable/workflow';
import { requireWorkflows } from '../config.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { brief, formatDuration, formatTime, statusColor, table } from '../output.js';
import { workflowView } from '../views.js';
import type { CommandContext } from './context.js';
import { parseCount, parseInstant, parseJsonArgument, parseStatuses } from './parse.js';

/** The options of `durable workflows list`. */
export interface ListOptions {
  status?: string;
  handler?: string;
  createdAfter?: string;
  createdBefore?: string;
  limit?: string;
  cursor?: string;
  order?: string;
  all?: boolean;
  json?: boolean;
}

const PAGE = 50;
const ALL_PAGE = 1000;

/** `durable workflows list`: one page (newest first), or every page with `--all`. */
export async function listCommand(ctx: CommandContext, options: ListOptions): Promise<void> {
  const now = ctx.now();
  const order = options.order ?? 'desc';
  if (order !== 'asc' && order !== 'desc')
    throw new CliError(
      ExitCode.USAGE,
      `--order ${order}: give asc (oldest first) or desc (newest first)`,
    );
  if (options.all === true && options.cursor !== undefined)
    throw new CliError(ExitCode.USAGE, '--all lists from the start: drop --cursor');
  const limit =
    options.limit === undefined
      ? options.all === true
        ? ALL_PAGE
        : PAGE
      : parseCount(options.limit, '--limit', 1, 1000);
  const query: WorkflowListQuery = { limit, order };
  if (options.status !== undefined) query.status = parseStatuses(options.status);
  if (options.handler !== undefined) query.handler = options.handler;
  if (options.createdAfter !== undefined)
    query.createdAfter = parseInstant(options.createdAfter, '--created-after', now);
  if (options.createdBefore !== undefined)
    query.createdBefore = parseInstant(options.createdBefore, '--created-before', now);
  if (options.cursor !== undefined) query.cursor = options.cursor;
  const store = requireWorkflows(await ctx.config());
  const { out } = ctx;
  if (options.all !== true) {
    const page = await listWorkflows(store, query);
    if (options.json === true) {
      out.json(page);
      return;
    }
    printSummaries(ctx, page.items);
    if (page.cursor !== undefined)
      out.note(`more: add --cursor ${page.cursor}  (or list every page with --all)`);
    return;
  }
  const items: WorkflowSummary[] = [];
  let page: WorkflowPage | undefined;
  let pages = 0;
  let listed = 0;
  do {
    page = await listWorkflows(
      store,
      page?.cursor === undefined ? query : { ...query, cursor: page.cursor },
    );
    pages += 1;
    listed += page.items.length;
    out.progress(`listed ${listed} workflows (${pages} page${pages === 1 ? '' : 's'})...`);
    // Printed page by page, so a long listing shows from the first page on.
    if (options.json === true) items.push(...page.items);
    else printSummaries(ctx, page.items, pages === 1);
  } while (page.cursor !== undefined);
  out.progressDone();
  if (options.json === true) out.json({ items });
}

function printSummaries(ctx: CommandContext, items: WorkflowSummary[], header = true): void {
  const { out } = ctx;
  if (items.length === 0) {
    if (header) out.line(out.color.dim('no workflows'));
    return;
  }
  const rows = items.map((w) => [
    w.id,
    w.handler,
    statusColor(w.status, out.color),
    formatTime(w.createdAt),
    formatTime(w.updatedAt),
    String(w.steps),
    String(w.failures),
    w.error === undefined
      ? ''
      : brief(`${w.error.code ?? w.error.name}: ${w.error.message}`, 50).replace(/^"|"$/g, ''),
  ]);
  const lines = table(
    [
      ['ID', 'HANDLER', 'STATUS', 'CREATED (UTC)', 'UPDATED (UTC)', 'STEPS', 'FAILURES', 'ERROR'],
      ...rows,
    ],
    out.color,
  );
  for (const line of header ? lines : lines.slice(1)) out.line(line.trimEnd());
}

/** `durable workflows counts`. */
export async function countsCommand(
  ctx: CommandContext,
  options: { json?: boolean },
): Promise<void> {
  const counts = await countWorkflowsByStatus(requireWorkflows(await ctx.config()));
  if (options.json === true) {
    ctx.out.json(counts);
    return;
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const rows = Object.entries(counts).map(([status, n]) => [
    statusColor(status, ctx.out.color),
    String(n),
  ]);
  for (const line of table(
    [['STATUS', 'COUNT'], ...rows, [ctx.out.color.bold('total'), String(total)]],
    ctx.out.color,
  ))
    ctx.out.line(line);
}

/** `durable workflows show <id>`. */
export async function showCommand(
  ctx: CommandContext,
  id: string,
  options: { json?: boolean },
): Promise<void> {
  const record = await requireWorkflows(await ctx.config()).get(id);
  if (record === undefined)
    throw new CliError(ExitCode.NOT_FOUND, `no workflow ${JSON.stringify(id)}`);
  const view = workflowView(record);
  const { out } = ctx;
  const c = out.color;
  if (options.json === true) {
    out.json(view);
    return;
  }
  out.line(`${c.bold('workflow')} ${view.id}`);
  const facts: Array<[string, string]> = [
    ['handler', view.handler],
    [
      'status',
      statusColor(view.status, c) +
        (view.failures > 0
          ? `  (${view.failures} failed run${view.failures === 1 ? '' : 's'})`
          : ''),
    ],
    ['created', formatTime(view.createdAt)],
    ['updated', formatTime(view.updatedAt)],
  ];
  if (view.finishedAt !== undefined)
    facts.push([
      'finished',
      `${formatTime(view.finishedAt)}  (took ${formatDuration(view.finishedAt - view.createdAt)})`,
    ]);
  if (!['completed', 'aborted', 'cancelled', 'running'].includes(view.status))
    facts.push(['due', formatTime(view.runAt)]);
  if (view.claim !== undefined)
    facts.push([
      'claimed',
      `${formatTime(view.claim.claimedAt)}, lease until ${formatTime(view.claim.expiresAt)}`,
    ]);
  if (view.parentId !== undefined) facts.push(['parent', view.parentId]);
  if (view.wakeOn !== undefined) facts.push(['waits for', view.wakeOn.join(', ')]);
  facts.push(['input', brief(view.input, 200)]);
  for (const [label, value] of facts) out.line(`  ${c.dim(label.padEnd(9))} ${value}`);
  out.line();
  out.line(c.bold(`steps (${view.steps.length})`));
  if (view.steps.length > 0) {
    const rows = view.steps.map((s) => [
      String(s.index),
      s.kind,
      s.id,
      s.done ? (s.error === undefined ? c.green('done') : c.red('failed')) : c.yellow('pending'),
      String(s.attempts),
      formatTime(s.at),
      `+${formatDuration(s.tookMs)}`,
      s.until !== undefined && !s.done
        ? `until ${formatTime(s.until)}`
        : s.error !== undefined
          ? `${s.error.name}: ${s.error.message}`
          : brief(s.value, 60),
    ]);
    for (const line of table(
      [['#', 'KIND', 'ID', 'STATE', 'ATTEMPTS', 'AT (UTC)', 'TOOK', 'RESULT'], ...rows],
      c,
    ))
      out.line(`  ${line.trimEnd()}`);
  }
  if (view.events.length > 0) {
    out.line();
    out.line(c.bold(`events (${view.events.length})`));
    for (const line of table(
      [
        ['NAME', 'AT (UTC)', 'PAYLOAD'],
        ...view.events.map((e) => [e.name, formatTime(e.at), brief(e.payload, 80)]),
      ],
      c,
    ))
      out.line(`  ${line.trimEnd()}`);
  }
  out.line();
  if (view.status === 'completed') out.line(`${c.bold('result')} ${brief(view.result, 2000)}`);
  if (view.error !== undefined) {
    out.line(
      `${c.bold(c.red('error'))} ${view.error.name}${
        view.error.code === undefined ? '' : ` [${view.error.code}]`
      }: ${view.error.message}`,
    );
    if (view.error.stack !== undefined)
      for (const line of view.error.stack.split('\n').slice(1, 8)) out.line(c.dim(line));
  }
}

/** `durable workflows cancel <id>`. */
export async function cancelCommand(
  ctx: CommandContext,
  id: string,
  options: { json?: boolean },
): Promise<void> {
  const store = requireWorkflows(await ctx.config());
  const cancelled = await cancelWorkflow(store, id, (error) =>
    ctx.out.note(
      `warning: cancelled, but its parent could not be told: ${
        error instanceof Error ? error.message : String(error)
      }`,
    ),
  );
  await actionOutcome(
    ctx,
    store,
    id,
    'cancel',
    cancelled,
    options,
    'cancelled',
    'it has already finished',
  );
}

/** `durable workflows resume <id>`. */
export async function resumeCommand(
  ctx: CommandContext,
  id: string,
  options: { json?: boolean },
): Promise<void> {
  const store = requireWorkflows(await ctx.config());
  const resumed = await resumeWorkflow(store, id);
  await actionOutcome(
    ctx,
    store,
    id,
    'resume',
    resumed,
    options,
    'ready again: a worker runs it from its last recorded step',
    'only aborted, cancelled or failed workflows resume',
  );
}

/** `durable workflows signal <id> <name> [payload]`. */
export async function signalCommand(
  ctx: CommandContext,
  id: string,
  name: string,
  payload: string | undefined,
  options: { json?: boolean },
): Promise<void> {
  const value = payload === undefined ? null : parseJsonArgument(payload, 'payload');
  const store = requireWorkflows(await ctx.config());
  const delivered = await store.signal(id, name, value);
  await actionOutcome(
    ctx,
    store,
    id,
    'signal',
    delivered,
    options,
    `event ${JSON.stringify(name)} delivered`,
    'it has already finished',
  );
}

async function actionOutcome(
  ctx: CommandContext,
  store: { get(id: string): Promise<{ status: WorkflowStatus } | undefined> },
  id: string,
  action: string,
  done: boolean,
  options: { json?: boolean },
  success: string,
  whyNot: string,
): Promise<void> {
  const record = done ? undefined : await store.get(id);
  if (options.json === true)
    ctx.out.json({ id, action, done, ...(record === undefined ? {} : { status: record.status }) });
  if (done) {
    if (options.json !== true) ctx.out.line(`${id}: ${success}`);
    return;
  }
  if (record === undefined)
    throw new CliError(ExitCode.NOT_FOUND, `no workflow ${JSON.stringify(id)}`);
  throw new CliError(
    ExitCode.REFUSED,
    `${action} refused for ${id}: it is ${record.status}; ${whyNot}`,
  );
}
