import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { DurableError, ErrorCode, assertValidKey } from '@durable/core';

// Characters kept as they are in file names. Everything else, upper-case letters included (so
// that "A" and "a" stay apart on case-insensitive file systems such as macOS's), becomes %XX.
const PLAIN = /^[a-z0-9_.-]$/;
// File systems cap a name at 255 bytes; longer encoded segments are replaced by a hash.
const MAX_NAME = 200;

/**
 * Encodes one key segment as a file name. The output never contains "~" or "#" and never
 * starts with ".", which keeps key folders ("<segment>~"), hashed names ("#...") and the
 * store's own files (".tmp-...") apart from any encoded segment.
 */
export function encodeSegment(segment: string): string {
  let out = '';
  for (const ch of segment) {
    if (PLAIN.test(ch) && !(out.length === 0 && ch === '.')) out += ch;
    else for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  if (out.length > MAX_NAME) return `#${createHash('sha256').update(segment).digest('hex')}`;
  return out;
}

/** Decodes a name made by {@link encodeSegment}; `undefined` for a hashed or foreign name. */
export function decodeSegment(name: string): string | undefined {
  if (name.startsWith('#') || name.startsWith('.') || name.includes('~')) return undefined;
  try {
    return decodeURIComponent(name);
  } catch {
    return undefined;
  }
}

/** Suffix of the folder that holds one key's generations; never produced by encodeSegment. */
export const KEY_DIR_SUFFIX = '~';

/**
 * Maps keys to folders under one root and refuses any path that a symlink planted inside the
 * root would lead outside it.
 */
export class KeyPaths {
  readonly root: string;
  private readonly context: string;
  // Folders already proven to resolve inside the root (cleared when it grows large).
  private readonly verified = new Set<string>();

  constructor(root: string, context: string) {
    if (typeof root !== 'string' || root.length === 0) {
      throw new DurableError(ErrorCode.CONFIG, `${context}: "root" must be a non-empty folder path`);
    }
    mkdirSync(root, { recursive: true });
    this.root = realpathSync(root);
    this.context = context;
  }

  /** The folder of `key` (validated); nothing is created. */
  keyDir(key: string): string {
    assertValidKey(key, this.context);
    const segments = key.split('/');
    const last = segments.pop() as string;
    return join(this.root, ...segments.map(encodeSegment), encodeSegment(last) + KEY_DIR_SUFFIX);
  }

  /**
   * Checks, component by component, that `dir` is a real folder inside the root (no symlink, so
   * nothing planted in the root can lead a key outside it), creating missing folders when
   * `create`. Returns false when it does not exist and was not to be created.
   */
  ensureInside(dir: string, key: string, create: boolean): boolean {
    if (this.verified.has(dir)) return true;
    let current = this.root;
    for (const part of dir.slice(this.root.length + 1).split(sep)) {
      current = join(current, part);
      if (this.verified.has(current)) continue;
      let stats = lstatOrUndefined(current);
      if (stats === undefined) {
        if (!create) return false;
        try {
          mkdirSync(current);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        }
        stats = lstatOrUndefined(current);
      }
      if (stats === undefined || stats.isSymbolicLink() || !stats.isDirectory()) {
        throw new DurableError(
          ErrorCode.PATH_ESCAPE,
          `${this.context}: refused ${key}: ${current} is not a plain folder inside the root (a planted symlink?)`,
          { details: { key, path: current } },
        );
      }
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.add(current);
    }
    return true;
  }
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
