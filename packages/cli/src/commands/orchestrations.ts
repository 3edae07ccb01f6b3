import type { OrchestrationPage, OrchestrationSummary } from '@durable/core/orchestrator';
import { inspectOrchestration, listOrchestrations, toMermaid } from '@durable/core/orchestrator';
import type { LoadedConfig } from '../config.js';
import { requireStorage } from '../config.js';
import { CliError, ExitCode } from '../exit-codes.js';
import { brief, formatTime, table } from '../output.js';
import type { CommandContext } from './context.js';
import { parseCount } from './parse.js';

/** The options of `durable orchestrations list`. */
export interface OrchestrationListOptions {
  prefix?: string;
  limit?: string;
  cursor?: string;
  all?: boolean;
  json?: boolean;
}

function prefixOf(loaded: LoadedConfig): { prefix?: string } {
  const prefix = loaded.config.orchestrations?.prefix;
  return prefix === undefined ? {} : { prefix };
}

/** `durable orchestrations list [--prefix]`. */
export async function orchestrationListCommand(
  ctx: CommandContext,
  options: OrchestrationListOptions,
): Promise<void> {
  if (options.all === true && options.cursor !== undefined)
    throw new CliError(ExitCode.USAGE, '--all lists from the start: drop --cursor');
  const limit =
    options.limit === undefined
      ? options.all === true
        ? 1000
        : 50
      : parseCount(options.limit, '--limit', 1, 1000);
  const loaded = await ctx.config();
  const base = { storage: requireStorage(loaded), ...prefixOf(loaded) };
  const query = { limit, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) };
  const { out } = ctx;
  if (options.all !== true) {
    const page = await listOrchestrations(base, {
      ...query,
      ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
    });
    if (options.json === true) {
      out.json(page);
      return;
    }
    print(ctx, page.items, true);
    if (page.cursor !== undefined)
      out.note(`more: add --cursor ${page.cursor}  (or list every page with --all)`);
    return;
  }
  const items: OrchestrationSummary[] = [];
  let page: OrchestrationPage | undefined;
  let pages = 0;
  let listed = 0;
  do {
    page = await listOrchestrations(base, {
      ...query,
      ...(page?.cursor === undefined ? {} : { cursor: page.cursor }),
    });
    pages += 1;
    listed += page.items.length;
    out.progress(`listed ${listed} processes (${pages} page${pages === 1 ? '' : 's'})...`);
    if (options.json === true) items.push(...page.items);
    else print(ctx, page.items, pages === 1);
  } while (page.cursor !== undefined);
  out.progressDone();
  if (options.json === true) out.json({ items });
}

function print(ctx: CommandContext, items: OrchestrationSummary[], header: boolean): void {
  const { out } = ctx;
  if (items.length === 0) {
    if (header) out.line(out.color.dim('no orchestrations'));
    return;
  }
  const rows = items.map((p) =>
    p.error === undefined
      ? [
          p.subject,
          p.machineId ?? '-',
          p.version ?? '-',
          typeof p.value === 'string' ? p.value : brief(p.value, 50),
          p.status ?? '-',
          String(p.sequence ?? '-'),
          formatTime(p.savedAt),
        ]
      : [p.subject, out.color.red(`unreadable: ${p.error.code}`), '', '', '', '', ''],
  );
  const lines = table(
    [['SUBJECT', 'MACHINE', 'VERSION', 'STATE', 'STATUS', 'SEQ', 'SAVED (UTC)'], ...rows],
    out.color,
  );
  for (const line of header ? lines : lines.slice(1)) out.line(line.trimEnd());
}

/** `durable orchestrations show <subject> [--mermaid]`. */
export async function orchestrationShowCommand(
  ctx: CommandContext,
  subject: string,
  options: { json?: boolean; mermaid?: boolean },
): Promise<void> {
  const loaded = await ctx.config();
  const view = await inspectOrchestration(
    { storage: requireStorage(loaded), ...prefixOf(loaded) },
    subject,
  );
  if (view === undefined)
    throw new CliError(ExitCode.NOT_FOUND, `no orchestration process ${JSON.stringify(subject)}`);
  const { out } = ctx;
  if (options.mermaid === true) {
    const logic = loaded.config.orchestrations?.versions?.find(
      (v) => v.version === view.version,
    )?.logic;
    if (logic === undefined) {
      throw new CliError(
        ExitCode.USAGE,
        `--mermaid needs the machine of version ${view.version}: export orchestrations: { versions: [{ version: '${view.version}', logic: machine }] } in durable.config.mjs`,
      );
    }
    const diagram = toMermaid(logic, { current: view.value });
    if (options.json === true) out.json({ subject, ...view, mermaid: diagram });
    else out.line(diagram);
    return;
  }
  if (options.json === true) {
    out.json({ subject, ...view });
    return;
  }
  const c = out.color;
  out.line(`${c.bold('orchestration')} ${subject}`);
  const facts: Array<[string, string]> = [
    ['version', view.version],
    ['state', c.cyan(typeof view.value === 'string' ? view.value : brief(view.value, 200))],
    ['status', view.status],
    ['sequence', String(view.sequence)],
    ['remembered', `${view.remembered} inputs (redelivery window)`],
  ];
  for (const [label, value] of facts) out.line(`  ${c.dim(label.padEnd(10))} ${value}`);
  out.line(c.bold('context'));
  out.line(JSON.stringify(view.context, null, 2) ?? 'undefined');
}
