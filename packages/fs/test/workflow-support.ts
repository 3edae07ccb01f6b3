import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Every file under the due index of a store's root (marker paths relative to it), sorted. */
export function markers(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue; // the shared empty file and announcements
      if (entry.isDirectory()) walk(join(dir, entry.name), `${prefix}${entry.name}/`);
      else out.push(`${prefix}${entry.name}`);
    }
  };
  walk(join(root, '.workflow-due'), '');
  return out.sort();
}
