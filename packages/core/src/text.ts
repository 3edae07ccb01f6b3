/**
 * @internal `value` as text for a message: JSON for objects and arrays, `String` for primitives;
 * never throws (a cyclic or hostile object gives its `[object Tag]`).
 */
export function textOf(value: unknown): string {
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  if (typeof value !== 'object' || value === null) {
    return String(value as string | number | bigint | boolean | symbol | null | undefined);
  }
  try {
    return JSON.stringify(value) ?? Object.prototype.toString.call(value);
  } catch {
    try {
      return Object.prototype.toString.call(value);
    } catch {
      return 'object';
    }
  }
}
