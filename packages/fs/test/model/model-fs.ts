import type { DirEntry, FsOp } from '../../src/protocol.js';

/*
 * An in-memory file system with the POSIX semantics the protocol relies on (link and mkdir refuse
 * an existing name, rename of a folder refuses a non-empty target and replaces an empty one, an
 * open file keeps its content), for the interleaving test. Files are shared nodes, so a hard link
 * is the same file under two names, as on disk.
 *
 * As in the kernel, link, mkdir and rename are two steps (`begin`): the paths are resolved first,
 * and the call acts later on the folders it found, even if they were renamed meanwhile; it fails
 * only if such a folder was deleted (rmdir), a name is taken, or (link) the file has no name left.
 * removeTree is two steps too: the tree is emptied, then the folder removed, which fails while a
 * late call has put something back in it. The scheduler may run other processes between the steps.
 */

interface FileNode {
  readonly kind: 'file';
  data: Uint8Array;
  /** Names the file has (link(2) refuses a file with none). */
  links: number;
}
interface DirNode {
  readonly kind: 'dir';
  readonly entries: Map<string, Node>;
  /** Removed (rmdir): nothing can be created in it any more. */
  dead?: boolean;
}
type Node = FileNode | DirNode;

class FsError extends Error {
  constructor(
    readonly code: string,
    path: string,
  ) {
    super(`${code}: ${path}`);
  }
}

const identities = new WeakMap<Node, string>();
let nextIdentity = 0;

/** The in-memory file system. */
export class ModelFs {
  readonly root: DirNode = { kind: 'dir', entries: new Map() };
  private file(data: Uint8Array): FileNode {
    return { kind: 'file', data, links: 1 };
  }

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
        return [...node.entries].map(
          ([name, child]): DirEntry => ({
            name,
            dir: child.kind === 'dir',
            file: child.kind === 'file',
          }),
        );
      }
      case 'readFile': {
        const node = this.lookup(op.path);
        if (node === undefined) return undefined;
        if (node.kind !== 'file') throw new FsError('EISDIR', op.path);
        return op.from === undefined ? node.data : node.data.subarray(op.from);
      }
      case 'writeFile': {
        const { dir, name } = this.parent(op.path);
        if (dir === undefined) throw new FsError('ENOENT', op.path);
        if (dir.entries.has(name)) throw new FsError('EEXIST', op.path);
        dir.entries.set(name, this.file(Buffer.concat(op.chunks)));
        return undefined;
      }
      case 'syncFile':
        return this.lookup(op.path)?.kind === 'file' ? 'ok' : 'ENOENT';
      case 'stat':
        return this.lookup(op.path) === undefined ? undefined : 0;
      case 'ident': {
        // Each node its own identity, as an inode and its times are, across model instances too.
        const node = this.lookup(op.path);
        if (node === undefined) return undefined;
        let ident = identities.get(node);
        if (ident === undefined) identities.set(node, (ident = `node${nextIdentity++}`));
        return ident;
      }
      case 'link':
      case 'mkdir':
      case 'rename':
      case 'removeTree':
      case 'createFile':
      case 'append':
        return this.begin(op)!();
      case 'unlink': {
        const { dir, name } = this.parent(op.path);
        const node = dir?.entries.get(name);
        if (node === undefined) return 'ENOENT';
        if (node.kind === 'dir') throw new FsError('EISDIR', op.path);
        this.drop(dir!, name);
        return 'ok';
      }
      case 'rmdir': {
        const { dir, name } = this.parent(op.path);
        const node = dir?.entries.get(name);
        if (node === undefined) return 'ENOENT';
        if (node.kind !== 'dir') throw new FsError('ENOTDIR', op.path);
        if (node.entries.size > 0) return 'EEXIST';
        node.dead = true;
        this.drop(dir!, name);
        return 'ok';
      }
    }
  }

  /**
   * The first step of a two-step call (link, mkdir, rename, removeTree, createFile, append): resolves its paths (and,
   * for removeTree, empties the tree) and returns the second step; undefined for one-step calls.
   */
  begin(op: FsOp): (() => unknown) | undefined {
    switch (op.op) {
      case 'link': {
        const source = this.lookup(op.from);
        const { dir, name } = this.parent(op.to);
        return () => {
          if (source === undefined || dir === undefined || dir.dead === true) return 'ENOENT';
          if (source.kind !== 'file') throw new FsError('EPERM', op.from);
          if (source.links === 0) return 'ENOENT';
          if (dir.entries.has(name)) return 'EEXIST';
          this.put(dir, name, source);
          return 'ok';
        };
      }
      case 'createFile': {
        // open(O_CREAT | O_EXCL) resolves the folder first, then creates the name in it.
        const { dir, name } = this.parent(op.path);
        return () => {
          if (dir === undefined || dir.dead === true) return 'ENOENT';
          if (dir.entries.has(name)) return 'EEXIST';
          dir.entries.set(name, this.file(new Uint8Array(0)));
          return 'ok';
        };
      }
      case 'append': {
        // open(O_APPEND | O_CREAT) resolves the file (or its folder) first; the write lands in
        // that file later, wherever it has moved meanwhile.
        const { dir, name } = this.parent(op.path);
        const found = dir?.entries.get(name);
        if (found !== undefined && found.kind !== 'file') throw new FsError('EISDIR', op.path);
        return () => {
          let node = found;
          if (node === undefined) {
            if (dir === undefined || dir.dead === true) return 'ENOENT';
            const now = dir.entries.get(name);
            if (now !== undefined && now.kind !== 'file') throw new FsError('EISDIR', op.path);
            node = now ?? this.file(new Uint8Array(0));
            dir.entries.set(name, node);
          }
          node.data = Buffer.concat([node.data, ...op.chunks]);
          return 'ok';
        };
      }
      case 'mkdir': {
        const { dir, name } = this.parent(op.path);
        return () => {
          if (dir === undefined || dir.dead === true) return 'ENOENT';
          if (dir.entries.has(name)) return 'EEXIST';
          dir.entries.set(name, { kind: 'dir', entries: new Map() });
          return 'ok';
        };
      }
      case 'rename': {
        if (op.to.startsWith(`${op.from}/`)) throw new FsError('EINVAL', op.to);
        const from = this.parent(op.from);
        const to = this.parent(op.to);
        return () => {
          const node = from.dir?.entries.get(from.name);
          if (
            node === undefined ||
            from.dir!.dead === true ||
            to.dir === undefined ||
            to.dir.dead === true
          )
            return 'ENOENT';
          const target = to.dir.entries.get(to.name);
          if (target !== undefined && target !== node) {
            if (node.kind === 'dir' && (target.kind !== 'dir' || target.entries.size > 0))
              return 'EEXIST';
            if (node.kind === 'file' && target.kind === 'dir') return 'EEXIST';
            if (target.kind === 'dir') target.dead = true;
            this.drop(to.dir, to.name);
          }
          from.dir!.entries.delete(from.name);
          to.dir.entries.set(to.name, node);
          return 'ok';
        };
      }
      case 'removeTree': {
        const node = this.lookup(op.path);
        if (node?.kind === 'dir') this.empty(node);
        return () => {
          const { dir, name } = this.parent(op.path);
          const now = dir?.entries.get(name);
          if (now === undefined) return 'ok';
          if (now.kind === 'dir') {
            if (now.entries.size > 0) return 'EEXIST'; // ENOTEMPTY: filled again meanwhile
            now.dead = true;
          }
          this.drop(dir!, name);
          return 'ok';
        };
      }
      default:
        return undefined;
    }
  }

  private empty(dir: DirNode): void {
    for (const [name, child] of [...dir.entries]) {
      if (child.kind === 'dir') {
        this.empty(child);
        child.dead = true;
      }
      this.drop(dir, name);
    }
  }

  private put(dir: DirNode, name: string, node: Node): void {
    if (node.kind === 'file') node.links++;
    dir.entries.set(name, node);
  }

  private drop(dir: DirNode, name: string): void {
    const node = dir.entries.get(name);
    if (node?.kind === 'file') node.links--;
    dir.entries.delete(name);
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
