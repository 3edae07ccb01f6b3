import { existsSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { assign, createActor, createMachine } from 'xstate';
import type { StepMemo } from '@durable/core';
import { withPersistedActor } from '@durable/core/actor';
import { orchestrateCloudEvents } from '@durable/core/orchestrator';
import { FileLockManager, LocalFileStorageManager, FileWorkflowStore } from '@durable/fs';
import type { Browser } from 'playwright-core';
import { chromium } from 'playwright-core';
import { cleanup, durable, moduleUrl, tempFolder, writeConfig } from './support/cli.js';
import type { ConsoleProcess } from './support/console.js';
import { startConsoleProcess } from './support/console.js';

// The web console end to end on the fs store (the embedded default): the real bin serves it, Debian's chromium (driven by playwright-core)
// shows it; clicking cancel changes the stored record.
const CHROMIUM = process.env['DURABLE_CHROMIUM'] ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);

// The workflows, an orchestration and an actor in an fs folder (the embedded default), written
// here as an app would; the console reads them through a real durable.config.mjs.
async function seedFolder(root: string): Promise<void> {
  let now = Date.parse('2026-11-30T10:00:00Z');
  const store = new FileWorkflowStore({ root, clock: () => now });
  const place = async (id: string, handler: string, make: (token: string) => Promise<void>) => {
    expect(await store.insert({ id, handler, input: { order: id } })).toBe(true);
    const claimed = await store.claim({ leaseMs: 3_600_000 });
    if (claimed?.record.id !== id) throw new Error(`seed: claimed ${claimed?.record.id}`);
    await make(claimed.token);
  };
  const step = (id: string, at: number, value: unknown, attempts = 1): StepMemo => ({
    id,
    kind: 'step',
    done: true,
    value,
    at,
    attempts,
  });
  await place('order-done', 'order', async (t) => {
    now += 400;
    await store.saveStep('order-done', t, 0, step('reserve', now, 'r-1'));
    now += 1500;
    await store.saveStep('order-done', t, 1, step('charge', now, { paid: 42 }, 2));
    now += 300;
    await store.saveStep('order-done', t, 2, step('ship', now, 'shipped'));
    await store.finish('order-done', t, { status: 'completed', result: { shipped: true } });
  });
  now += 60_000;
  await place('order-aborted', 'order', async (t) => {
    now += 200;
    await store.saveStep('order-aborted', t, 0, step('reserve', now, 'r-2'));
    await store.finish('order-aborted', t, {
      status: 'aborted',
      error: { name: 'CardError', message: 'card declined', code: 'DECLINED' },
    });
  });
  now += 60_000;
  await place('order-sleeping', 'order', async (t) => {
    const until = now + 86_400_000;
    await store.suspend('order-sleeping', t, {
      runAt: until,
      step: { index: 0, memo: { id: 'cool-off', kind: 'sleep', done: false, until, at: now } },
    });
  });
  now += 60_000;
  await place('refund-running', 'refund', async () => undefined);
  now += 60_000;
  await store.insert({
    id: 'order-ready',
    handler: 'order',
    input: { n: 1 },
    runAt: now + 3_600_000,
  });
  await store.insert({ id: 'order-cancelled', handler: 'order' });
  await store.cancel('order-cancelled');
  const storage = new LocalFileStorageManager({ root });
  const lock = new FileLockManager({ root });
  const versions = [{ version: '1', logic: bookFlow }];
  await orchestrateCloudEvents({ versions, storage, lock }, [], [{ subject: 'books/moby' }]);
  await orchestrateCloudEvents({ versions, storage, lock }, [
    { specversion: '1.0', id: 'e1', source: 'test', type: 'evt.fetched', subject: 'books/moby' },
  ]);
  await withPersistedActor(
    {
      id: 'carts/7',
      storage,
      lock,
      actorCreator: (id, snapshot) =>
        createActor(cart, { id, ...(snapshot === undefined ? {} : { snapshot }) }),
    },
    (actor) => {
      actor.send({ type: 'ADD' });
      actor.send({ type: 'ADD' });
    },
  );
}

// The same machine in the test and in the config file (the console draws it): plain JSON.
const BOOK_FLOW = {
  id: 'book',
  initial: 'fetching',
  states: {
    fetching: { on: { 'evt.fetched': 'summarising' } },
    summarising: { on: { 'evt.done': 'done' } },
    done: { type: 'final' as const },
  },
};
const bookFlow = createMachine(BOOK_FLOW);
const cart = createMachine({
  id: 'cart',
  initial: 'open',
  context: { items: 0 },
  states: {
    open: { on: { ADD: { actions: assign({ items: ({ context }) => context.items + 1 }) } } },
  },
});

// A config file as a user writes it for the fs store: the folder, and the machine to draw.
function writeFsConfig(dir: string, root: string): void {
  writeConfig(
    dir,
    `import { FileLockManager, LocalFileStorageManager, FileWorkflowStore } from ${JSON.stringify(
      moduleUrl('@durable/fs'),
    )};
import { createMachine } from ${JSON.stringify(moduleUrl('xstate'))};
const root = ${JSON.stringify(root)};
export default {
  workflows: new FileWorkflowStore({ root }),
  storage: new LocalFileStorageManager({ root }),
  lock: new FileLockManager({ root }),
  orchestrations: { versions: [{ version: '1', logic: createMachine(${JSON.stringify(BOOK_FLOW)}) }] },
};
`,
  );
}

function get(
  origin: string,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${origin}${path}`, { method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(method === 'POST' ? '{"id":"order-ready"}' : undefined);
  });
}

if (!haveChromium) {
  it(`SKIPPED: the console's browser test: no chromium at ${CHROMIUM} (apt-get install -y chromium, or set DURABLE_CHROMIUM)`, () => {
    console.warn(`@durable/cli: SKIPPED: browser test: no chromium at ${CHROMIUM}`);
    expect(haveChromium).toBe(false);
  });
} else {
  describe('durable console in a real browser (chromium, headless)', () => {
    let dir: string;
    let root: string;
    let server: ConsoleProcess;
    let browser: Browser;
    beforeAll(async () => {
      dir = tempFolder('console');
      root = join(dir, 'data');
      await seedFolder(root);
      writeFsConfig(dir, root);
      server = await startConsoleProcess(dir);
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        headless: true,
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--no-first-run',
        ],
      });
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
      await server?.stop();
      cleanup();
    }, 60_000);

    it('shows workflows in every state with counts; the status filter narrows the list; clicking cancel changes the stored record', async () => {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      page.on('dialog', (dialog) => void dialog.accept());
      await page.goto(server.url);
      const rows = page.locator('table[data-testid=workflows] tbody tr[data-id]');
      await rows.first().waitFor();
      expect(await rows.count()).toBe(6);
      const byId = Object.fromEntries(
        await Promise.all(
          (await rows.all()).map(
            async (row) =>
              [
                await row.getAttribute('data-id'),
                await row.locator('[data-testid=status]').textContent(),
              ] as const,
          ),
        ),
      );
      expect(byId).toEqual({
        'order-done': 'completed',
        'order-aborted': 'aborted',
        'order-sleeping': 'sleeping',
        'refund-running': 'running',
        'order-ready': 'ready',
        'order-cancelled': 'cancelled',
      });
      expect(await page.locator('[data-testid=count-aborted] b').textContent()).toBe('1');
      expect(await page.locator('[data-testid=count-ready] b').textContent()).toBe('1');
      if (process.env['DURABLE_SCREENSHOTS'] !== undefined)
        await page.screenshot({
          path: join(process.env['DURABLE_SCREENSHOTS'], 'console-workflows.png'),
        });

      await page.selectOption('#status', 'aborted');
      await page.waitForFunction(
        "document.querySelectorAll('table[data-testid=workflows] tbody tr[data-id]').length === 1",
      );
      expect(await rows.first().getAttribute('data-id')).toBe('order-aborted');
      await page.selectOption('#status', '');
      await page.waitForFunction(
        "document.querySelectorAll('table[data-testid=workflows] tbody tr[data-id]').length === 6",
      );

      await page.locator('tr[data-id="order-done"]').click();
      await page.locator('[data-testid=workflow-status]').waitFor();
      expect(await page.locator('[data-testid=step]').count()).toBe(3);
      expect(await page.locator('[data-testid=step]').nth(1).textContent()).toMatch(
        /charge.*2 attempts.*1\.5s/,
      );
      expect(await page.locator('[data-testid=result]').textContent()).toContain('"shipped": true');
      if (process.env['DURABLE_SCREENSHOTS'] !== undefined)
        await page.screenshot({
          path: join(process.env['DURABLE_SCREENSHOTS'], 'console-workflow.png'),
        });

      await page.goto(`${server.url}#/workflows/order-ready`);
      await page.locator('[data-testid=workflow-status]', { hasText: 'ready' }).waitFor();
      await page.locator('[data-testid=cancel]').click();
      await page.locator('[data-testid=workflow-status]', { hasText: 'cancelled' }).waitFor();
      const stored = JSON.parse((await get(server.origin, '/api/workflow?id=order-ready')).body);
      expect(stored.status).toBe('cancelled');
      expect(stored.error.code).toBe('CANCELLED');
      // In the folder itself, as the app's own store reads it.
      expect((await new FileWorkflowStore({ root }).get('order-ready'))?.status).toBe('cancelled');
      await page.locator('[data-testid=resume]').click();
      await page.locator('[data-testid=workflow-status]', { hasText: 'ready' }).waitFor();
      expect(
        JSON.parse((await get(server.origin, '/api/workflow?id=order-ready')).body).status,
      ).toBe('ready');
      expect((await new FileWorkflowStore({ root }).get('order-ready'))?.status).toBe('ready');
      await page.close();
    }, 120_000);

    it('draws an orchestration state diagram with mermaid served from the install, and shows an actor', async () => {
      const page = await browser.newPage();
      const external: string[] = [];
      page.on('request', (req) => {
        if (!req.url().startsWith(server.origin)) external.push(req.url());
      });
      await page.goto(`${server.url}#/orchestrations`);
      await page.locator('tr[data-subject="books/moby"]').click();
      await page.locator('[data-testid=diagram] svg').waitFor();
      expect(await page.locator('[data-testid=orchestration-state]').textContent()).toBe(
        'summarising',
      );
      expect(await page.locator('[data-testid=diagram] svg').textContent()).toContain(
        'summarising',
      );
      await page.goto(`${server.url}#/actors/${encodeURIComponent('carts/7')}`);
      await page.locator('[data-testid=actor-state]').waitFor();
      expect(await page.locator('[data-testid=actor-state]').textContent()).toBe('open');
      expect(await page.locator('pre').textContent()).toContain('"items": 2');
      expect(external).toEqual([]);
      await page.close();
    }, 120_000);

    it('guards: actions need the console header, the Host must be its own, and another address needs a token', async () => {
      expect(
        (
          await get(
            server.origin,
            '/api/workflow/cancel',
            { 'content-type': 'application/json' },
            'POST',
          )
        ).status,
      ).toBe(403);
      expect((await get(server.origin, '/api/counts', { host: 'evil.example:80' })).status).toBe(
        421,
      );
      expect((await get(server.origin, '/api/counts')).status).toBe(200);
      const open = await durable(['console', '--host', '0.0.0.0', '--port', '0'], { cwd: dir });
      expect(open.code).toBe(2);
      expect(open.stderr).toMatch(/give --token <secret>/);
      const guarded = await startConsoleProcess(dir, ['--token', 'correct-horse-battery-staple']);
      try {
        expect(guarded.url).toMatch(/\?token=correct-horse-battery-staple$/);
        expect((await get(guarded.origin, '/api/counts')).status).toBe(401);
        expect(
          (
            await get(guarded.origin, '/api/counts', {
              authorization: 'Bearer wrong-horse-battery-staple',
            })
          ).status,
        ).toBe(401);
        expect(
          (
            await get(guarded.origin, '/api/counts', {
              authorization: 'Bearer correct-horse-battery-staple',
            })
          ).status,
        ).toBe(200);
        expect((await get(guarded.origin, '/?token=correct-horse-battery-staple')).status).toBe(
          200,
        );
        const page = await browser.newPage();
        await page.goto(guarded.url);
        await page.locator('table[data-testid=workflows] tbody tr[data-id]').first().waitFor();
        await page.close();
      } finally {
        await guarded.stop();
      }
    }, 120_000);
  });
}
