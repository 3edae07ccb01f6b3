import { unlinkSync } from 'node:fs';

/** Deletes a path, ignoring a file that is already gone. */
export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
