import { Command, CommanderError } from 'commander';
import type { LoadedConfig } from './config.js';
import { loadConfig } from './config.js';
import { actorShowCommand } from './commands/actors.js';
import type { CommandContext } from './commands/context.js';
import { orchestrationListCommand, orchestrationShowCommand } from './commands/orchestrations.js';
import { parseCount } from './commands/parse.js';
import {
  cancelCommand,
  countsCommand,
  listCommand,
  resumeCommand,
  showCommand,
  signalCommand,
} from './commands/workflows.js';
import { ExitCode, exitCodeOf } from './exit-codes.js';
import type { OutputStreams } from './output.js';
import { createOutput } from './output.js';

/** Where {@link runCli} runs: the process's streams and folder, or a test's. */
export interface CliEnvironment extends OutputStreams {
  cwd: string;
  /** Time source (for `--created-after 2h`). @default Date.now */
  now?: () => number;
}

interface GlobalOptions {
  fs?: string;
  config?: string;
  progress?: boolean;
}

const EXAMPLES = `
Which store: --fs <dir> for the embedded default (the folder your app gives @durable/fs), or a
durable.config.mjs (looked up from the current folder upward, or --config <file>) whose default
export is { workflows, storage, lock, orchestrations } built with any backend's adapters.

Examples:
  $ durable --fs ./.durable-data workflows list
  $ durable workflows list --status failed,aborted --handler order --created-after 2h
  $ durable workflows list --all --json > workflows.json
  $ durable workflows show order-42
  $ durable workflows resume order-42
  $ durable workflows signal order-42 approved '{"by":"ana"}'
  $ durable actors show actors/cart-7
  $ durable orchestrations list --prefix books/
  $ durable orchestrations show books/moby --mermaid
  $ durable console --port 7400

Exit codes: 0 done, 1 failed (backend error), 2 bad usage or config, 3 not found,
4 refused (the action does not apply in the workflow's state).`;

/**
 * Runs the `durable` command line with `argv` (the arguments after `durable`) and resolves with
 * the exit code; never exits the process itself, so tests and scripts can call it.
 */
export async function runCli(argv: readonly string[], env: CliEnvironment): Promise<number> {
  let loaded: Promise<LoadedConfig> | undefined;
  let exitCode: number = ExitCode.OK;
  let keepOpen: Promise<void> | undefined;
  const program = new Command('durable');
  const outputConfig = {
    writeOut: (text: string) => void env.stdout.write(text),
    writeErr: (text: string) => void env.stderr.write(text),
  };
  program
    .description('See and control what runs on a durable store: workflows, actors, orchestrations.')
    .option('--fs <dir>', 'use the local-files store in <dir> (the embedded default)')
    .option('--config <file>', 'use this config file instead of looking up durable.config.mjs')
    .option('--progress', 'show progress of long listings on stderr even when it is not a terminal')
    .addHelpText('after', EXAMPLES)
    .showHelpAfterError('(run with --help for usage and examples)')
    .configureOutput(outputConfig)
    .exitOverride();

  const context = (command: Command): CommandContext => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    const out = createOutput(env, globals.progress === true ? { progress: true } : {});
    return {
      out,
      now: env.now ?? Date.now,
      config: () => (loaded ??= loadConfig({ ...pick(globals, 'fs', 'config'), cwd: env.cwd })),
    };
  };
  const action =
    <A extends unknown[]>(run: (ctx: CommandContext, ...args: A) => Promise<void>) =>
    async (...args: unknown[]): Promise<void> => {
      const command = args[args.length - 1] as Command;
      const ctx = context(command);
      try {
        await run(ctx, ...(args.slice(0, -1) as A));
      } catch (error) {
        exitCode = exitCodeOf(error);
        ctx.out.progressDone();
        ctx.out.note(`durable: ${error instanceof Error ? error.message : String(error)}`);
      }
    };

  const workflows = program
    .command('workflows')
    .description('list, show, cancel, resume and signal workflows')
    .configureOutput(outputConfig)
    .exitOverride();
  workflows
    .command('list')
    .description('list workflows, newest first (one page; --all for every page)')
    .option(
      '--status <statuses>',
      'only these statuses, comma-separated: ready,running,sleeping,failed,completed,aborted,cancelled',
    )
    .option('--handler <name>', 'only workflows of this handler')
    .option(
      '--created-after <time>',
      'created at or after: ISO time, epoch ms, or a time ago (30m, 2h, 7d)',
    )
    .option('--created-before <time>', 'created before: ISO time, epoch ms, or a time ago')
    .option('--order <order>', 'desc (newest first) or asc (oldest first)', 'desc')
    .option('--limit <n>', 'workflows per page, 1 to 1000 (default 50; 1000 with --all)')
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--all', 'every page, printed as it comes')
    .option('--json', 'print JSON: { items, cursor }')
    .addHelpText(
      'after',
      '\nExamples:\n  $ durable workflows list --status failed,aborted\n  $ durable workflows list --handler order --created-after 1d --all',
    )
    .action(action(listCommand));
  workflows
    .command('counts')
    .description('how many workflows are in each status')
    .option('--json', 'print JSON')
    .action(action(countsCommand));
  workflows
    .command('show <id>')
    .description('a workflow: its steps (durations, attempts), sleeps, events, result or error')
    .option('--json', 'print JSON')
    .action(action(showCommand));
  workflows
    .command('cancel <id>')
    .description('cancel an unfinished workflow (a running one stops at its next step)')
    .option('--json', 'print JSON: { id, action, done }')
    .action(action(cancelCommand));
  workflows
    .command('resume <id>')
    .description('run an aborted, cancelled or failed workflow again from its last recorded step')
    .option('--json', 'print JSON: { id, action, done }')
    .action(action(resumeCommand));
  workflows
    .command('signal <id> <name> [payload]')
    .description('deliver event <name> with a JSON payload to a workflow (ctx.waitForEvent)')
    .option('--json', 'print JSON: { id, action, done }')
    .addHelpText(
      'after',
      `\nExample:\n  $ durable workflows signal order-42 approved '{"by":"ana"}'`,
    )
    .action(action(signalCommand));

  const actors = program
    .command('actors')
    .description('inspect persisted actors (read only)')
    .configureOutput(outputConfig)
    .exitOverride();
  actors
    .command('show <key>')
    .description('a stored actor: machine and version, state, context, save time, lease holder')
    .option('--json', 'print JSON')
    .action(action(actorShowCommand));

  const orchestrations = program
    .command('orchestrations')
    .description('inspect orchestration processes (read only)')
    .configureOutput(outputConfig)
    .exitOverride();
  orchestrations
    .command('list')
    .description('list processes by subject')
    .option('--prefix <prefix>', 'only subjects that start with this')
    .option('--limit <n>', 'processes per page, 1 to 1000 (default 50; 1000 with --all)')
    .option('--cursor <cursor>', 'continue after the page that printed this cursor')
    .option('--all', 'every page, printed as it comes')
    .option('--json', 'print JSON: { items, cursor }')
    .action(action(orchestrationListCommand));
  orchestrations
    .command('show <subject>')
    .description('a process: version, state, context; --mermaid prints its state diagram')
    .option(
      '--mermaid',
      "print the machine as a Mermaid diagram with the current state marked (needs the machine in the config's orchestrations.versions)",
    )
    .option('--json', 'print JSON')
    .action(action(orchestrationShowCommand));

  program
    .command('console')
    .description(
      'serve the web console: workflows, orchestrations, actors, with cancel, resume and signal',
    )
    .option('--port <port>', 'port to listen on', '7400')
    .option(
      '--host <host>',
      'address to bind; anything but 127.0.0.1/localhost requires --token',
      '127.0.0.1',
    )
    .option(
      '--token <token>',
      'a secret every request must carry (required when not bound to 127.0.0.1); default $DURABLE_CONSOLE_TOKEN',
    )
    .action(
      action(async (ctx, options: { port: string; host: string; token?: string }) => {
        const { startConsole } = await import('./console/server.js');
        const token = options.token ?? env.env['DURABLE_CONSOLE_TOKEN'];
        const server = await startConsole({
          config: await ctx.config(),
          port: parseCount(options.port, '--port', 0, 65_535),
          host: options.host,
          ...(token === undefined || token === '' ? {} : { token }),
        });
        ctx.out.note(
          `durable console on ${server.url}${
            token === undefined ? '' : ' (token required)'
          }  (Ctrl-C to stop)`,
        );
        const stop = (): void => void server.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        keepOpen = server.closed.finally(() => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        });
      }),
    );

  for (const command of [program, workflows, actors, orchestrations])
    command.configureOutput(outputConfig).exitOverride();
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    }
    throw error;
  }
  if (keepOpen !== undefined) await keepOpen;
  if (loaded !== undefined) {
    const config = await loaded.catch(() => undefined);
    try {
      await config?.config.close?.();
    } catch (error) {
      env.stderr.write(
        `durable: warning: the config's close() failed: ${
          error instanceof Error ? error.message : String(error)
        }\n`,
      );
    }
  }
  return exitCode;
}

function pick<T extends object, K extends keyof T>(value: T, ...keys: K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const key of keys) if (value[key] !== undefined) picked[key] = value[key];
  return picked;
}
