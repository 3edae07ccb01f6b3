import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import type { WorkflowSummary } from '@durable/core';
import { cleanup, durable, moduleUrl, tempFolder, writeConfig } from './support/cli.js';

// The listing commands of the real bin, on a config whose memory store is seeded the same way in
// every run (each run of the bin is its own process): paging, filters, --all, --json, exit codes.
const T0 = Date.parse('2026-11-01T00:00:00Z');
const TOTAL = 130;

/** What seeding makes: workflow i is created at T0 + i minutes, handler and status by i. */
function seeded(i: number): { id: string; handler: string; status: string; createdAt: number } {
  const status =
    i % 10 === 3 ? 'aborted' : i % 10 === 7 ? 'cancelled' : i % 25 === 0 ? 'completed' : 'ready';
  return {
    id: `wf-${String(i).padStart(3, '0')}`,
    handler: i % 3 === 0 ? 'refund' : 'order',
    status,
    createdAt: T0 + i * 60_000,
  };
}
const ALL = Array.from({ length: TOTAL }, (_, i) => seeded(i));

let dir: string;
beforeAll(() => {
  dir = tempFolder('listing');
  writeConfig(
    dir,
    `import { MemoryWorkflowStore, MemoryStorageManager } from ${JSON.stringify(
      moduleUrl('@durable/core'),
    )};
let now = ${T0};
const store = new MemoryWorkflowStore({ clock: () => now });
for (let i = 0; i < ${TOTAL}; i++) {
  now = ${T0} + i * 60000;
  const id = 'wf-' + String(i).padStart(3, '0');
  await store.insert({ id, handler: i % 3 === 0 ? 'refund' : 'order', input: { i }, runAt: now + 1e12 });
  if (i % 10 === 7) await store.cancel(id);
}
// Claim the aborted and completed ones one at a time (nothing else is due).
for (let i = 0; i < ${TOTAL}; i++) {
  const id = 'wf-' + String(i).padStart(3, '0');
  const aborted = i % 10 === 3, completed = i % 25 === 0 && !aborted && i % 10 !== 7;
  if (!aborted && !completed) continue;
  // Cancel then resume: ready and due now, so this claim takes it (nothing else is due).
  await store.cancel(id);
  await store.resume(id);
  const claimed = await store.claim({ leaseMs: 60000 });
  if (claimed.record.id !== id) throw new Error('seed: claimed ' + claimed.record.id);
  await store.saveStep(id, claimed.token, 0, { id: 'charge', kind: 'step', done: true, value: { ok: !aborted }, at: now, attempts: aborted ? 3 : 1 });
  if (aborted) await store.finish(id, claimed.token, { status: 'aborted', error: { name: 'CardError', message: 'card declined', code: 'DECLINED' } });
  else await store.finish(id, claimed.token, { status: 'completed', result: { paid: i } });
}
export default { workflows: store, storage: new MemoryStorageManager() };
`,
  );
});
afterAll(cleanup);

const ids = (items: WorkflowSummary[]): string[] => items.map((w) => w.id);
const newestFirst = (list: typeof ALL): string[] => list.map((w) => w.id).reverse();

describe('durable workflows list (memory store in a config file)', () => {
  it('the first page is the 50 newest; following the printed cursor lists every workflow exactly once, newest first', async () => {
    const first = await durable(['workflows', 'list'], { cwd: dir });
    expect(first.code).toBe(0);
    const lines = first.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+HANDLER\s+STATUS\s+CREATED \(UTC\)/);
    expect(lines).toHaveLength(51);
    expect(lines[1]).toMatch(/^wf-129\s+refund\s+ready\s+2026-11-01 02:09:00/);
    expect(first.stdout).not.toMatch(/\x1b\[/);
    const seen: string[] = [];
    let cursor = /--cursor (\S+)/.exec(first.stderr)?.[1];
    let page = JSON.parse(
      (await durable(['workflows', 'list', '--json'], { cwd: dir })).stdout,
    ) as { items: WorkflowSummary[]; cursor?: string };
    seen.push(...ids(page.items));
    expect(page.cursor).toBe(cursor);
    while (page.cursor !== undefined) {
      const run = await durable(['workflows', 'list', '--json', '--cursor', page.cursor], {
        cwd: dir,
      });
      expect(run.code).toBe(0);
      page = JSON.parse(run.stdout);
      seen.push(...ids(page.items));
      cursor = page.cursor;
    }
    expect(seen).toEqual(newestFirst(ALL));
  });

  it('--all prints every page, shows progress with --progress, and --json gives every item', async () => {
    const all = await durable(
      ['workflows', 'list', '--all', '--limit', '20', '--progress', '--order', 'asc'],
      { cwd: dir },
    );
    expect(all.code).toBe(0);
    const rows = all.stdout.trimEnd().split('\n');
    expect(rows).toHaveLength(TOTAL + 1);
    expect(rows.slice(1).map((r: string) => r.split(/\s+/)[0])).toEqual(ALL.map((w) => w.id));
    expect(all.stderr.trim().split('\n')).toEqual(
      Array.from(
        { length: 7 },
        (_, p) =>
          `listed ${Math.min(TOTAL, (p + 1) * 20)} workflows (${p + 1} page${
            p === 0 ? '' : 's'
          })...`,
      ),
    );
    const json = await durable(['workflows', 'list', '--all', '--json'], { cwd: dir });
    expect(ids(JSON.parse(json.stdout).items)).toEqual(newestFirst(ALL));
    expect(json.stderr).toBe('');
  });

  it('filters are exact: --status (several), --handler, --created-after/--created-before, combined', async () => {
    const cases: Array<[string[], (w: (typeof ALL)[number]) => boolean]> = [
      [
        ['--status', 'aborted,cancelled'],
        (w) => w.status === 'aborted' || w.status === 'cancelled',
      ],
      [['--status', 'completed'], (w) => w.status === 'completed'],
      [['--handler', 'refund'], (w) => w.handler === 'refund'],
      [['--created-after', '2026-11-01T01:00:00Z'], (w) => w.createdAt >= T0 + 3_600_000],
      [['--created-before', String(T0 + 10 * 60_000)], (w) => w.createdAt < T0 + 10 * 60_000],
      [
        [
          '--status',
          'aborted',
          '--handler',
          'order',
          '--created-after',
          '2026-11-01T00:30:00Z',
          '--created-before',
          '2026-11-01T01:30:00Z',
        ],
        (w) =>
          w.status === 'aborted' &&
          w.handler === 'order' &&
          w.createdAt >= T0 + 1_800_000 &&
          w.createdAt < T0 + 5_400_000,
      ],
    ];
    for (const [args, keep] of cases) {
      const run = await durable(['workflows', 'list', '--all', '--json', ...args], { cwd: dir });
      expect(run.code).toBe(0);
      expect(ids(JSON.parse(run.stdout).items)).toEqual(newestFirst(ALL.filter(keep)));
    }
    const aborted = JSON.parse(
      (
        await durable(['workflows', 'list', '--json', '--status', 'aborted', '--limit', '1'], {
          cwd: dir,
        })
      ).stdout,
    ).items[0];
    expect(aborted).toMatchObject({
      id: 'wf-123',
      status: 'aborted',
      steps: 1,
      failures: 1,
      error: { name: 'CardError', code: 'DECLINED' },
    });
  });

  it('counts gives every status; show prints steps with attempts; a missing workflow exits 3', async () => {
    const counts = await durable(['workflows', 'counts', '--json'], { cwd: dir });
    const expected = {
      ready: 0,
      running: 0,
      sleeping: 0,
      failed: 0,
      completed: 0,
      aborted: 0,
      cancelled: 0,
    } as Record<string, number>;
    for (const w of ALL) expected[w.status] = (expected[w.status] ?? 0) + 1;
    expect(JSON.parse(counts.stdout)).toEqual(expected);
    const show = await durable(['workflows', 'show', 'wf-013'], { cwd: dir });
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/status\s+aborted\s+\(1 failed run\)/);
    expect(show.stdout).toMatch(/0\s+step\s+charge\s+done\s+3\s+2026-11-01/);
    expect(show.stdout).toMatch(/error CardError \[DECLINED\]: card declined/);
    const json = JSON.parse(
      (await durable(['workflows', 'show', 'wf-025', '--json'], { cwd: dir })).stdout,
    );
    expect(json).toMatchObject({
      id: 'wf-025',
      status: 'completed',
      result: { paid: 25 },
      input: { i: 25 },
      steps: [{ id: 'charge', attempts: 1, done: true }],
    });
    expect(json.claim).toBeUndefined();
    const missing = await durable(['workflows', 'show', 'nope'], { cwd: dir });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/no workflow "nope"/);
  });

  it('actions report refusal with exit 4 and absence with exit 3', async () => {
    expect((await durable(['workflows', 'resume', 'wf-001'], { cwd: dir })).code).toBe(4);
    expect((await durable(['workflows', 'cancel', 'wf-007'], { cwd: dir })).code).toBe(4);
    expect((await durable(['workflows', 'signal', 'wf-025', 'go'], { cwd: dir })).code).toBe(4);
    expect((await durable(['workflows', 'resume', 'absent'], { cwd: dir })).code).toBe(3);
    const resumed = await durable(['workflows', 'resume', 'wf-003', '--json'], { cwd: dir });
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toEqual({ id: 'wf-003', action: 'resume', done: true });
  });

  it('bad usage exits 2 with a message saying what to do; --help shows examples and exits 0', async () => {
    const bad: Array<[string[], RegExp]> = [
      [
        ['workflows', 'list', '--status', 'done'],
        /unknown status; the statuses are ready, running/,
      ],
      [['workflows', 'list', '--limit', '0'], /--limit 0: give a whole number from 1 to 1000/],
      [['workflows', 'list', '--created-after', 'yesterday-ish'], /not a time; give an ISO date/],
      [['workflows', 'list', '--bogus'], /unknown option '--bogus'/],
      [['workflows', 'list', '--cursor', 'xyz'], /cursor is not one a listing returned/],
      [['workflows', 'signal', 'wf-001', 'go', '{not json'], /not JSON; quote it for the shell/],
      [['--fs', join(dir, 'nowhere'), 'workflows', 'list'], /no such folder/],
      [
        ['--fs', dir, '--config', 'x.mjs', 'workflows', 'list'],
        /either --fs <dir> or --config <file>/,
      ],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, message] of bad) {
      const run = await durable(args, { cwd: dir });
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
    }
    const empty = tempFolder('noconfig');
    const none = await durable(['workflows', 'list'], { cwd: empty });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no store: run with --fs <dir>.*or write a durable.config.mjs/);
    const help = await durable(['--help'], { cwd: dir });
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Examples:\n\s+\$ durable --fs/);
    expect((await durable(['workflows', 'list', '--help'], { cwd: dir })).stdout).toMatch(
      /--status <statuses>/,
    );
  });

  it('the config is found from a subfolder and by --config; colours only when forced (stdout is not a terminal here)', async () => {
    const sub = join(dir, 'a', 'b');
    mkdirSync(sub, { recursive: true });
    expect((await durable(['workflows', 'counts'], { cwd: sub })).code).toBe(0);
    const other = tempFolder('other');
    expect(
      (
        await durable(['--config', join(dir, 'durable.config.mjs'), 'workflows', 'counts'], {
          cwd: other,
        })
      ).code,
    ).toBe(0);
    const plain = await durable(['workflows', 'list', '--limit', '3'], { cwd: dir });
    expect(plain.stdout).not.toMatch(/\x1b\[/);
    const coloured = await durable(['workflows', 'list', '--limit', '3'], {
      cwd: dir,
      env: { FORCE_COLOR: '1' },
    });
    expect(coloured.stdout).toMatch(/\x1b\[1mID/);
  });
});
