import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import {
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  realpathSync,
  unlinkSync,
  writeSync,
  constants,
} from 'node:fs';
import { join } from 'node:path';
import { DurableError, ErrorCode } from '@durable/core';
import { assertValidKey } from '@durable/core/adapter';
import type { KeyFolder } from './protocol.js';

// Characters kept as they are in file names. Everything else, upper-case letters included (so
// that "A" and "a" stay apart on case-insensitive file systems such as macOS's), becomes %XX.
const PLAIN = /^[a-z0-9_.-]$/;
// File systems cap a name at 255 bytes; longer encoded segments are replaced by a hash.
const MAX_NAME = 200;
// The longest path the OS accepts (PATH_MAX), less room for what the store puts below a key
// folder ("/e<15 digits>/<15 digits>", ".t-<16 hex>", ".segment").
const PATH_LIMIT = (process.platform === 'darwin' ? 1024 : 4096) - 48;
/** File in a hashed folder that keeps the segment's text, so list() can name the key. */
export const SEGMENT_FILE = '.segment';

/**
 * Encodes one key segment as a file name. The output never contains "~" or "#" and never
 * starts with ".", which keeps key folders ("<segment>~"), hashed names ("#...") and the
 * store's own files (".t-...", ".p-...") apart from any encoded segment.
 */
export function encodeSegment(segment: string): string {
  let out = '';
  for (const ch of segment) {
    if (PLAIN.test(ch) && !(out.length === 0 && ch === '.')) out += ch;
    else
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
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
 * Maps keys to folders under one root, and refuses any key whose folder a symlink (or anything
 * but a plain folder) planted inside the root would lead elsewhere. The check runs on every
 * operation (nothing is cached), component by component with lstat.
 */
export class KeyPaths {
  readonly root: string;
  private readonly context: string;

  constructor(root: string, context: string) {
    if (typeof root !== 'string' || root.length === 0) {
      throw new DurableError(
        ErrorCode.CONFIG,
        `${context}: "root" must be a non-empty folder path`,
      );
    }
    mkdirSync(root, { recursive: true });
    this.root = realpathSync(root);
    this.context = context;
  }

  /** The folder of `key` (validated; a key whose path the OS could not hold is INVALID_KEY); nothing is touched. */
  keyFolder(key: string): KeyFolder {
    assertValidKey(key, this.context);
    const segments = key.split('/');
    const last = segments.pop() as string;
    const parent = join(this.root, ...segments.map(encodeSegment));
    const dir = join(parent, encodeSegment(last) + KEY_DIR_SUFFIX);
    if (Buffer.byteLength(dir) > PATH_LIMIT) {
      throw new DurableError(
        ErrorCode.INVALID_KEY,
        `${this.context}: key ${JSON.stringify(
          key.slice(0, 64),
        )}... is too long for a file path under ${
          this.root
        } (at most ${PATH_LIMIT} bytes once encoded); use shorter segments`,
        { details: { key } },
      );
    }
    return { dir, parent };
  }

  /**
   * Checks that every folder from the root down to the key folder is a plain folder (no symlink,
   * so nothing planted in the root can lead a key outside it), creating missing parents when
   * `create`. Returns false when a parent is missing and was not to be created.
   */
  ensureInside(folder: KeyFolder, key: string, create: boolean): boolean {
    let current = this.root;
    const parts = folder.dir.slice(this.root.length + 1).split(/[\\/]/);
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i] as string;
      current = join(current, part);
      const isKeyFolder = i === parts.length - 1;
      let stats = lstatOrUndefined(current);
      if (stats === undefined) {
        if (isKeyFolder) return true; // created by the protocol's first commit
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
    }
    return true;
  }

  /**
   * Gives each hashed folder of `key` (a segment too long for a file name) the file that keeps its
   * text, so list() can name the key. Written under a temp name and linked: never seen half-written.
   */
  nameHashedFolders(key: string, folder: KeyFolder): void {
    if (!folder.dir.includes('#', this.root.length)) return;
    const segments = key.split('/');
    let current = this.root;
    segments.forEach((segment, i) => {
      const name = encodeSegment(segment) + (i === segments.length - 1 ? KEY_DIR_SUFFIX : '');
      current = join(current, name);
      if (!name.startsWith('#') || lstatOrUndefined(join(current, SEGMENT_FILE)) !== undefined)
        return;
      const temp = join(current, `.t-${randomBytes(8).toString('hex')}`);
      const fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        writeSync(fd, segment);
      } finally {
        closeSync(fd);
      }
      try {
        linkSync(temp, join(current, SEGMENT_FILE));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        unlinkSync(temp);
      }
    });
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
