import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';

/** One ```ts block of a markdown file, with what the HTML comments just above it declare. */
export interface Snippet {
  /** Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The block's code. */
  code: string;
  /** Declarations the block relies on without showing them (`<!-- snippet-prelude: ... -->`). */
  prelude: string;
  /** Modules the block imports by a relative path (`<!-- snippet-module ../src: ... -->`). */
  modules: Array<{ specifier: string; code: string }>;
  /** Why the block is not compiled (`<!-- snippet: no-check (reason) -->`), when it is not. */
  skip?: string;
}

const FENCE_OPEN = /^```(ts|typescript)\s*$/;
const FENCE_CLOSE = /^```\s*$/;
const PRELUDE = /^<!--\s*snippet-prelude:\s*([\s\S]*?)\s*-->$/;
const MODULE = /^<!--\s*snippet-module\s+(\S+?):\s*([\s\S]*?)\s*-->$/;
const NO_CHECK = /^<!--\s*snippet:\s*no-check\s*\((.+)\)\s*-->$/;
const ANY_DIRECTIVE = /^<!--\s*snippet/;

/** The markdown files whose blocks are checked: the root README, every package's, and docs/. */
export function documentationFiles(root: string): string[] {
  const files = [join(root, 'README.md')];
  for (const name of readdirSync(join(root, 'packages')).sort()) {
    const readme = join(root, 'packages', name, 'README.md');
    if (existsSync(readme)) files.push(readme);
  }
  for (const name of readdirSync(join(root, 'docs')).sort()) {
    if (name.endsWith('.md')) files.push(join(root, 'docs', name));
  }
  return files.map((file) => relative(root, file));
}

/**
 * The ```ts blocks of one markdown text. Directives are HTML comments (invisible on GitHub and
 * npm) directly above the fence, blank lines allowed between them; a malformed `snippet`
 * comment is an error rather than silently ignored.
 */
export function extractSnippets(file: string, text: string): Snippet[] {
  const lines = text.split('\n');
  const snippets: Snippet[] = [];
  for (let index = 0; index < lines.length; index++) {
    if (!FENCE_OPEN.test(lines[index] ?? '')) continue;
    const end = lines.findIndex((line, at) => at > index && FENCE_CLOSE.test(line));
    if (end === -1) throw new Error(`${file}:${index + 1}: unclosed code block`);
    const snippet: Snippet = {
      file,
      line: index + 1,
      code: lines.slice(index + 1, end).join('\n'),
      prelude: '',
      modules: [],
    };
    readDirectives(file, lines, index, snippet);
    snippets.push(snippet);
    index = end;
  }
  return snippets;
}

function readDirectives(file: string, lines: string[], fence: number, snippet: Snippet): void {
  const preludes: string[] = [];
  let at = fence - 1;
  while (at >= 0) {
    if ((lines[at] ?? '').trim() === '') {
      at--;
      continue;
    }
    if (!(lines[at] ?? '').trimEnd().endsWith('-->')) break;
    let start = at;
    while (start > 0 && !(lines[start] ?? '').trimStart().startsWith('<!--')) start--;
    const comment = lines
      .slice(start, at + 1)
      .join('\n')
      .trim();
    if (!ANY_DIRECTIVE.test(comment)) break;
    const prelude = PRELUDE.exec(comment);
    const module = MODULE.exec(comment);
    const noCheck = NO_CHECK.exec(comment);
    if (prelude !== null) preludes.unshift(prelude[1] ?? '');
    else if (module !== null)
      snippet.modules.push({ specifier: module[1] ?? '', code: module[2] ?? '' });
    else if (noCheck !== null) snippet.skip = (noCheck[1] ?? '').trim();
    else
      throw new Error(
        `${file}:${
          start + 1
        }: unknown snippet directive (use snippet-prelude:, snippet-module <path>:, or snippet: no-check (reason)): ${comment}`,
      );
    at = start - 1;
  }
  snippet.prelude = preludes.join('\n');
}

/** Every snippet of the documentation files under `root`. */
export function collectSnippets(root: string): Snippet[] {
  return documentationFiles(root).flatMap((file) =>
    extractSnippets(file, readFileSync(join(root, file), 'utf8')),
  );
}
