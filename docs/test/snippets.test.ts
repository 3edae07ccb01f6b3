import { resolve } from 'node:path';
import { compileSnippets } from './support/compile.js';
import { collectSnippets, extractSnippets } from './support/extract.js';

const root = resolve(__dirname, '../..');
// Inside the docs package, so `@durable/*`, xstate, mongodb and ioredis resolve from its node_modules.
const workDir = resolve(__dirname, '../.snippets');

describe('documentation snippets', () => {
  it('every ts block in README.md, packages/*/README.md and docs/*.md type-checks under strict', () => {
    const snippets = collectSnippets(root);
    const skipped = snippets.filter((snippet) => snippet.skip !== undefined);
    const checked = snippets.filter((snippet) => snippet.skip === undefined);
    const errors = compileSnippets(checked, resolve(workDir, 'docs'));
    const lines = [`snippets: ${checked.length} checked, ${skipped.length} skipped`];
    for (const snippet of skipped)
      lines.push(`  skipped ${snippet.file}:${snippet.line}: ${snippet.skip}`);
    console.log(lines.join('\n'));
    expect(checked.length).toBeGreaterThan(10);
    expect(errors.map((error) => `${error.where}: ${error.message}`)).toEqual([]);
  });

  it('a snippet with an implicit any, an unknown payload or an undeclared name fails the check, at its markdown line', () => {
    const markdown = [
      '# broken',
      '',
      '```ts',
      "import { orchestrateCloudEvents } from '@durable/core/orchestrator';",
      'const handler = (event) => event.data.text;',
      'const total = payments.capture(orchestrateCloudEvents.length);',
      'const text = (event: { data: unknown }) => event.data.text;',
      '```',
    ].join('\n');
    const errors = compileSnippets(
      extractSnippets('broken.md', markdown),
      resolve(workDir, 'broken'),
    );
    const messages = errors.map((error) => `${error.where}: ${error.message}`);
    expect(messages).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^broken\.md:5: Parameter 'event' implicitly has an 'any' type/),
        expect.stringMatching(/^broken\.md:6: Cannot find name 'payments'/),
        expect.stringMatching(/^broken\.md:7: 'event\.data' is of type 'unknown'/),
      ]),
    );
  });

  it('a prelude declares what a snippet uses, a snippet-module stands in for a relative import, and no-check needs a reason', () => {
    const markdown = [
      '<!-- snippet-prelude: declare const payments: { capture(amount: number): Promise<{ ok: boolean }> }; -->',
      '<!-- snippet-module ../src: export class MyStorage { constructor(readonly prefix: string) {} } -->',
      '```ts',
      "import { MyStorage } from '../src';",
      'const charge = await payments.capture(42);',
      "const ok: boolean = charge.ok && new MyStorage('x').prefix === 'x';",
      '```',
      '',
      '<!-- snippet: no-check (a fragment: the body of a handler) -->',
      '```ts',
      'return actor.getSnapshot();',
      '```',
    ].join('\n');
    const [declared, fragment] = extractSnippets('ok.md', markdown);
    expect(fragment?.skip).toBe('a fragment: the body of a handler');
    expect(compileSnippets([declared!], resolve(workDir, 'declared'))).toEqual([]);
    expect(() => extractSnippets('bad.md', '<!-- snippet: no-check -->\n```ts\nx\n```')).toThrow(
      /unknown snippet directive/,
    );
  });
});
