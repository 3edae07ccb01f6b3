import type { DirEntry, FsOp } from '../../src/protocol.js';

/*
 * An in-memory file system with the POSIX semantics the protocol relies on (link and mkdir refuse
 * an existing name, rename of a folder refuses a non-empty target and replaces an empty one, an
 * open file keeps its content), for the interleaving test. Files are shared nodes, so a hard link
 * is the same file under two names, as on disk.
 */

interface FileNode {
  readonly kind: 'file';
  data: Uint8Array;
}
interface DirNode {
  readonly kind: 'dir';
  readonly entries: Map<string, Node>;
}
type Node = FileNode | DirNode;

class FsError extends Error {
  constructor(readonly code: string, path: string) {
    super(`${code}: ${path}`);
  }
}

/** The in-memory file system. */
export class ModelFs {
  readonly root: DirNode = { kind: 'dir', entries: new Map() };

  /** Creates a folder and its parents (setup only, not a protocol step). */
  mkdirs(path: string): void {
    let dir = this.root;
    for (const part of parts(path)) {
      let next = dir.entries.get(part);
      if (next === undefined) dir.entries.set(part, (next = { kind: 'dir', entries: new Map() }));
      if (next.kind !== 'dir') throw new FsError('ENOTDIR', path);
      dir = next;
    }
  }

  /** The names below `path` (a sorted tree dump, for assertions). */
  tree(path = '/'): string[] {
    const node = this.lookup(path);
    const out: string[] = [];
    const walk = (n: Node, prefix: string): void => {
      if (n.kind === 'file') return;
      for (const [name, child] of [...n.entries].sort()) {
        out.push(`${prefix}${name}${child.kind === 'dir' ? '/' : ''}`);
        walk(child, `${prefix}${name}/`);
      }
    };
    if (node !== undefined) walk(node, '');
    return out;
  }

  /** Performs one protocol op; answers what fs-driver.ts answers, throws what it would throw. */
  perform(op: FsOp): unknown {
    switch (op.op) {
      case 'readdir': {
        const node = this.lookup(op.path);
        if (node === undefined) return undefined;
        if (node.kind !== 'dir') throw new FsError('ENOTDIR', op.path);
        return [...node.entries].map(([name, child]): DirEntry => ({ name, dir: child.kind === 'dir', file: child.kind === 'file' }));
      }
      case 'readFile': {
        const node = this.lookup(op.path);
        if (node === undefined) return undefined;
        if (node.kind !== 'file') throw new FsError('EISDIR', op.path);
        return node.data;
      }
      case 'writeFile': {
        const { dir, name } = this.parent(op.path);
        if (dir === undefined) throw new FsError('ENOENT', op.path);
        if (dir.entries.has(name)) throw new FsError('EEXIST', op.path);
        dir.entries.set(name, { kind: 'file', data: Buffer.concat(op.chunks) });
        return undefined;
      }
      case 'syncFile':
        return this.lookup(op.path)?.kind === 'file' ? 'ok' : 'ENOENT';
      case 'stat':
        return this.lookup(op.path) === undefined ? undefined : 0;
      case 'link': {
        const source = this.lookup(op.from);
        const { dir, name } = this.parent(op.to);
        if (source === undefined || dir === undefined) return 'ENOENT';
        if (source.kind !== 'file') throw new FsError('EPERM', op.from);
        if (dir.entries.has(name)) return 'EEXIST';
        dir.entries.set(name, source);
        return 'ok';
      }
      case 'mkdir': {
        const { dir, name } = this.parent(op.path);
        if (dir === undefined) return 'ENOENT';
        if (dir.entries.has(name)) return 'EEXIST';
        dir.entries.set(name, { kind: 'dir', entries: new Map() });
        return 'ok';
      }
      case 'rename': {
        const from = this.parent(op.from);
        const to = this.parent(op.to);
        const node = from.dir?.entries.get(from.name);
        if (node === undefined || to.dir === undefined) return 'ENOENT';
        if (op.to.startsWith(`${op.from}/`)) throw new FsError('EINVAL', op.to);
        const target = to.dir.entries.get(to.name);
        if (target !== undefined && target !== node) {
          if (node.kind === 'dir' && (target.kind !== 'dir' || target.entries.size > 0)) return 'EEXIST';
          if (node.kind === 'file' && target.kind === 'dir') return 'EEXIST';
        }
        from.dir!.entries.delete(from.name);
        to.dir.entries.set(to.name, node);
        return 'ok';
      }
      case 'unlink': {
        const { dir, name } = this.parent(op.path);
        const node = dir?.entries.get(name);
        if (node === undefined) return 'ENOENT';
        if (node.kind === 'dir') throw new FsError('EISDIR', op.path);
        dir!.entries.delete(name);
        return 'ok';
      }
      case 'removeTree': {
        const { dir, name } = this.parent(op.path);
        dir?.entries.delete(name);
        return 'ok';
      }
    }
  }

  private lookup(path: string): Node | undefined {
    let node: Node = this.root;
    for (const part of parts(path)) {
      if (node.kind !== 'dir') return undefined;
      const next: Node | undefined = node.entries.get(part);
      if (next === undefined) return undefined;
      node = next;
    }
    return node;
  }

  private parent(path: string): { dir: DirNode | undefined; name: string } {
    const all = parts(path);
    const name = all.pop() as string;
    const node = this.lookup(`/${all.join('/')}`);
    return { dir: node?.kind === 'dir' ? node : undefined, name };
  }
}

function parts(path: string): string[] {
  return path.split('/').filter((part) => part.length > 0);
}
