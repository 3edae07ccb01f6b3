// Shared by the benches: order statistics of a sample (the element at floor(q * n), the same
// pick every bench has printed).

/** The `q`-quantile (0..1) of `values`: the element at floor(q * n) of the sorted copy. */
export function quantile(values, q) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** The median of `values` (the upper middle one for an even count). */
export const median = (values) => quantile(values, 0.5);
