import { ErrorCode, isDurableError, toBackendError } from '../errors.js';
import type { StorageManager } from '../storage.js';
import { bytesToText } from '../storage.js';

const MAX_ATTEMPTS = 3;

/**
 * @internal A conditional write that recognises its own already-recorded write; `body` must be
 * unique to this write (the envelope's `writeId`). When a storage
 * client retried after a lost reply, the retry finds our write in place and reports `CONFLICT`
 * (or the storage says `UNKNOWN_OUTCOME`): reading back the same bytes means the write landed,
 * so it is a success with that version. An `UNKNOWN_OUTCOME` that left the old state in place
 * did not land and is tried again (still conditional, so never blind). Anything else keeps its error.
 */
export async function writeRecognisingOwn(
  storage: StorageManager,
  key: string,
  body: string,
  ifVersion: string | null,
): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await storage.write(key, body, { ifVersion });
    } catch (error) {
      const unknown = isDurableError(error, ErrorCode.UNKNOWN_OUTCOME);
      if (!unknown && !isDurableError(error, ErrorCode.CONFLICT)) throw error;
      let current: { data: Uint8Array; version: string } | undefined;
      try {
        current = await storage.read(key);
      } catch (readError) {
        throw toBackendError(readError, `${key}: reading back a write whose reply was lost failed`);
      }
      // The body carries a random write id: equal bytes are our write, never another writer's
      // identical state (two increments from the same state, saved in the same millisecond).
      if (
        current !== undefined &&
        current.version !== ifVersion &&
        bytesToText(current.data) === body
      )
        return current.version;
      const untouched = current === undefined ? ifVersion === null : current.version === ifVersion;
      if (unknown && untouched && attempt < MAX_ATTEMPTS) continue;
      throw error;
    }
  }
}
