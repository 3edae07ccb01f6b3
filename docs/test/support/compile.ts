import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import type { Snippet } from './extract.js';

/** A compiler error, placed at the markdown line it comes from. */
export interface SnippetError {
  /** `README.md:214` (or `README.md:200 (prelude)` for an error in the declared prelude). */
  where: string;
  message: string;
}

/**
 * What a reader's project would use: `strict`, ES2022, Node's types, and a resolution that
 * follows the packages' `exports` (`import` condition) to their built `.d.ts`. Bundler resolution
 * lets a snippet import `../src` as people write it; top-level await is allowed as in an ES module.
 */
export const SNIPPET_COMPILER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts'],
  module: ts.ModuleKind.Preserve,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  types: ['node'],
  noEmit: true,
  skipLibCheck: true,
  esModuleInterop: true,
};

/**
 * Compiles every snippet (each in its own module, its prelude first and its declared relative
 * modules beside it) in one program under `workDir`, which must sit where `@durable/*` and the
 * snippets' other imports resolve. Returns the errors, mapped to markdown lines.
 */
export function compileSnippets(snippets: readonly Snippet[], workDir: string): SnippetError[] {
  rmSync(workDir, { recursive: true, force: true });
  const files = new Map<string, { snippet: Snippet; preludeLines: number }>();
  snippets.forEach((snippet, index) => {
    // test/ inside a folder of its own, so `../src` of an adapter snippet lands beside it.
    const path = resolve(workDir, `s${index}`, 'test', 'snippet.ts');
    const preludeLines = snippet.prelude === '' ? 0 : snippet.prelude.split('\n').length;
    const text = `${snippet.prelude === '' ? '' : `${snippet.prelude}\n`}${
      snippet.code
    }\nexport {};\n`;
    write(path, text);
    files.set(path, { snippet, preludeLines });
    for (const module of snippet.modules) {
      write(resolve(dirname(path), `${module.specifier}.ts`), `${module.code}\n`);
    }
  });
  const program = ts.createProgram([...files.keys()], SNIPPET_COMPILER_OPTIONS);
  const errors: SnippetError[] = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const source = diagnostic.file;
    const entry = source === undefined ? undefined : files.get(resolve(source.fileName));
    if (source === undefined || entry === undefined || diagnostic.start === undefined) {
      errors.push({ where: source === undefined ? '(program)' : source.fileName, message });
      continue;
    }
    const line = source.getLineAndCharacterOfPosition(diagnostic.start).line + 1;
    const { snippet, preludeLines } = entry;
    const where =
      line <= preludeLines
        ? `${snippet.file}:${snippet.line} (prelude)`
        : `${snippet.file}:${snippet.line + line - preludeLines}`;
    errors.push({ where, message });
  }
  return errors;
}

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}
