// Cold start: a serverless function that only needs storage and locks must not pay for xstate or
// cloudevents. These checks run against the built package (dist), as users load it.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

const packageRoot = resolve(__dirname, '..');

function run(code: string, type: 'commonjs' | 'module'): string {
  return execFileSync(process.execPath, ['--input-type', type, '-e', code], {
    cwd: packageRoot,
    encoding: 'utf8',
  }).trim();
}

// Bare specifiers reachable from an ESM entry point, following relative imports. Static imports
// load with the entry; `import()` of an optional peer loads only when the feature is used.
const LAZY_OPTIONAL_PEERS = ['@opentelemetry/api'];
function bareImports(entry: string): Set<string> {
  const seen = new Set<string>();
  const bare = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(
      /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g,
    )) {
      const specifier = (match[1] ?? match[2]) as string;
      if (specifier.startsWith('.')) visit(join(dirname(file), specifier));
      else if (match[2] !== undefined && LAZY_OPTIONAL_PEERS.includes(specifier)) continue;
      else bare.add(specifier);
    }
  };
  visit(entry);
  return bare;
}

describe('subpath exports and cold start', () => {
  test('the one module loaded lazily, @opentelemetry/api, is an optional peer', () => {
    const manifest = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      peerDependenciesMeta?: Record<string, { optional?: boolean }>;
    };
    for (const name of LAZY_OPTIONAL_PEERS) {
      expect(manifest.dependencies?.[name]).toBeUndefined();
      expect(manifest.peerDependenciesMeta?.[name]?.optional).toBe(true);
    }
  });

  beforeAll(() => {
    if (!existsSync(join(packageRoot, 'dist/esm/actor/index.js'))) {
      throw new Error('build @durable/core first (pnpm --filter @durable/core build)');
    }
  });

  test("require('@durable/core') loads neither xstate nor cloudevents", () => {
    const loaded = run(
      "require('@durable/core'); console.log(Object.keys(require.cache).filter((p) => /[\\\\/](xstate|cloudevents)[\\\\/]/.test(p)).length)",
      'commonjs',
    );
    expect(loaded).toBe('0');
  });

  test("the ESM entry '@durable/core' imports only node: built-ins (no xstate, no cloudevents)", () => {
    const bare = [...bareImports(join(packageRoot, 'dist/esm/index.js'))];
    expect(bare.filter((specifier) => !specifier.startsWith('node:'))).toEqual([]);
  });

  test("require('@durable/core/actor') and require('@durable/core/orchestrator') work and load xstate", () => {
    const out = run(
      "const a = require('@durable/core/actor'); const o = require('@durable/core/orchestrator'); console.log(typeof a.withPersistedActor, typeof o.orchestrateCloudEvents, Object.keys(require.cache).some((p) => /[\\\\/]xstate[\\\\/]/.test(p)))",
      'commonjs',
    );
    expect(out).toBe('function function true');
  });

  test("import('@durable/core/actor') and import('@durable/core/orchestrator') work from ESM", () => {
    const out = run(
      "const a = await import('@durable/core/actor'); const o = await import('@durable/core/orchestrator'); console.log(typeof a.PersistedActor, typeof o.createCloudEvent, typeof o.toMermaid)",
      'module',
    );
    expect(out).toBe('function function function');
  });

  test("'@durable/core/adapter' holds the adapter helpers, from require and import, and the main entry does not", () => {
    const names =
      "['pageKeys', 'conflictError', 'acquireWithRetry', 'workflowTransitions', 'ClaimWrites', 'toBackendError']";
    const cjs = run(
      `const main = require('@durable/core'); const adapter = require('@durable/core/adapter'); console.log(${names}.map((n) => (n in main ? 'main' : '') + typeof adapter[n]).join(' '))`,
      'commonjs',
    );
    expect(cjs).toBe('function function function object function function');
    const esm = run(
      `const adapter = await import('@durable/core/adapter'); console.log(${names}.every((n) => adapter[n] !== undefined))`,
      'module',
    );
    expect(esm).toBe('true');
  });

  test('the actor subpath loads no third-party module itself (the caller brings xstate via actorCreator)', () => {
    const bare = [...bareImports(join(packageRoot, 'dist/esm/actor/index.js'))].filter(
      (s) => !s.startsWith('node:'),
    );
    expect(bare).toEqual([]);
  });

  test('the orchestrator subpath imports exactly xstate and cloudevents', () => {
    const bare = [...bareImports(join(packageRoot, 'dist/esm/orchestrator/index.js'))].filter(
      (s) => !s.startsWith('node:'),
    );
    expect(bare.sort()).toEqual(['cloudevents', 'xstate']);
  });
});
