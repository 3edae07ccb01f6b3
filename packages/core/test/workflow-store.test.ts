import {
  DurableError,
  assertJsonValue,
  decodeWorkflowId,
  encodeWorkflowId,
  isDurableError,
  isWorkflowDue,
  parseWorkflowRecord,
  toStoredError,
  workflowTransitions,
} from '../src/index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isDurableError(error) ? error.code : 'not-durable';
  }
  return undefined;
}

describe('workflow record helpers', () => {
  it('assertJsonValue accepts plain JSON and refuses what JSON would change', () => {
    expect(codeOf(() => assertJsonValue({ a: [1, 'x', null, true, { b: undefined }] }, 'v'))).toBeUndefined();
    expect(codeOf(() => assertJsonValue(() => 1, 'v'))).toBe('SERIALIZATION');
    expect(codeOf(() => assertJsonValue({ d: new Date() }, 'v'))).toBe('SERIALIZATION');
    expect(codeOf(() => assertJsonValue([undefined], 'v'))).toBe('SERIALIZATION');
    expect(codeOf(() => assertJsonValue(Number.NaN, 'v'))).toBe('SERIALIZATION');
    expect(codeOf(() => assertJsonValue(new Map(), 'v'))).toBe('SERIALIZATION');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(codeOf(() => assertJsonValue(cyclic, 'v'))).toBe('SERIALIZATION');
    const shared = { x: 1 };
    expect(codeOf(() => assertJsonValue([shared, shared], 'v'))).toBeUndefined();
  });

  it('workflow ids of any characters map to distinct key segments and back', () => {
    const ids = ['a', 'A', 'a.b', '..', 'a/b', 'ü 🎉', '%2F'];
    const segments = ids.map(encodeWorkflowId);
    expect(new Set(segments).size).toBe(ids.length);
    for (const segment of segments) expect(segment).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(segments.map(decodeWorkflowId)).toEqual(ids);
  });

  it('due rules: ready/failed/sleeping at runAt, running when the lease expired, finished never', () => {
    const record = workflowTransitions.create({ id: 'w', handler: 'h', runAt: 100 }, 50);
    expect(isWorkflowDue(record, 99)).toBe(false);
    expect(isWorkflowDue(record, 100)).toBe(true);
    const running = workflowTransitions.claim(record, 't', 10, 100);
    expect(isWorkflowDue(running, 109)).toBe(false);
    expect(isWorkflowDue(running, 110)).toBe(true);
    const done = workflowTransitions.finish(running, 't', { status: 'completed' }, 105);
    expect(isWorkflowDue(done, Number.MAX_SAFE_INTEGER)).toBe(false);
  });

  it('a stored error keeps name, message, stack and a DurableError code', () => {
    const stored = toStoredError(new DurableError('CONFLICT', 'x'));
    expect(stored).toMatchObject({ name: 'DurableError', message: 'x', code: 'CONFLICT' });
    expect(stored.stack).toContain('DurableError');
    expect(toStoredError('plain')).toEqual({ name: 'Error', message: 'plain' });
  });

  it('parseWorkflowRecord refuses an unknown format with VERSION_UNKNOWN and bad JSON with BACKEND', () => {
    expect(codeOf(() => parseWorkflowRecord('{"format":99}'))).toBe('VERSION_UNKNOWN');
    expect(codeOf(() => parseWorkflowRecord('{'))).toBe('BACKEND');
    const record = workflowTransitions.create({ id: 'w', handler: 'h', input: { a: 1 } }, 1);
    expect(parseWorkflowRecord(JSON.stringify(record))).toEqual(record);
  });
});
