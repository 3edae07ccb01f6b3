// The Go sm-server's test.orders:v3 configuration, and helpers shared by the tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The Go sm-server README's example configuration. */
export const ORDERS_V3 = {
  name: 'test.orders',
  version: 'v3',
  states: ['start', 'waiting', 'pending', 'shipped', 'delivered', 'completed', 'closed'],
  transitions: [
    { from: 'start', to: 'pending', event: 'accept' },
    { from: 'start', to: 'waiting', event: 'pause' },
    { from: 'pending', to: 'shipped', event: 'ship' },
    { from: 'shipped', to: 'delivered', event: 'deliver' },
    { from: 'delivered', to: 'completed', event: 'sign' },
    { from: 'completed', to: 'closed', event: 'close' },
  ],
  starting_state: 'start',
};

/** A two-state machine that flips on every `toggle`: any order of events gives one history shape. */
export const TOGGLE = {
  name: 'toggle',
  version: 'v1',
  states: ['off', 'on'],
  transitions: [
    { from: 'off', to: 'on', event: 'toggle' },
    { from: 'on', to: 'off', event: 'toggle' },
  ],
  starting_state: 'off',
};

/** A fresh temporary folder and its remover. */
export function tempDir(name: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `fsm-${name}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
