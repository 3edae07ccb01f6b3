/**
 * Workflows by due time, for a store that keeps its records in memory: a binary min-heap of
 * (due time, id) entries with lazy deletion. `set` pushes a new entry and makes the workflow's
 * older entries stale; stale entries are dropped when they reach the top. Finding due work costs
 * O(log n) however many workflows sleep, instead of a scan of every record.
 */
export class DueQueue {
  private readonly heap: Array<{ at: number; id: string; seq: number }> = [];
  // The current entry of each workflow that has one (its due time and sequence number).
  private readonly current = new Map<string, { at: number; seq: number }>();
  private seq = 0;

  /** Makes `id` due at `at` (replacing its earlier due time); `undefined` removes it. */
  set(id: string, at: number | undefined): void {
    if (at === undefined) {
      this.current.delete(id);
      return;
    }
    const now = this.current.get(id);
    if (now !== undefined && now.at === at) return;
    const seq = ++this.seq;
    this.current.set(id, { at, seq });
    this.push({ at, id, seq });
    // Stale entries pile up when due times change often: rebuild once they outnumber live ones.
    if (this.heap.length > 1024 && this.heap.length > 4 * this.current.size) this.rebuild();
  }

  /** The ids due at `now` or earlier, earliest first (looked-at entries go back unless changed meanwhile). */
  *due(now: number): Generator<string> {
    const skipped: Array<{ at: number; id: string; seq: number }> = [];
    try {
      for (;;) {
        const top = this.top();
        if (top === undefined || top.at > now) return;
        this.pop();
        skipped.push(top);
        yield top.id;
      }
    } finally {
      // Entries looked at but still current (their workflow was not changed) go back.
      for (const entry of skipped)
        if (this.current.get(entry.id)?.seq === entry.seq) this.push(entry);
    }
  }

  /** How many workflows have a due time. */
  get size(): number {
    return this.current.size;
  }

  private top(): { at: number; id: string; seq: number } | undefined {
    for (;;) {
      const first = this.heap[0];
      if (first === undefined) return undefined;
      if (this.current.get(first.id)?.seq === first.seq) return first;
      this.pop(); // stale
    }
  }

  private rebuild(): void {
    this.heap.length = 0;
    for (const [id, { at, seq }] of this.current) this.push({ at, id, seq });
  }

  private push(entry: { at: number; id: string; seq: number }): void {
    const heap = this.heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const heap = this.heap;
    const last = heap.pop();
    if (last === undefined || heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      if (left < heap.length && less(heap[left]!, heap[smallest]!)) smallest = left;
      if (right < heap.length && less(heap[right]!, heap[smallest]!)) smallest = right;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}

// Earliest first; ties in the order they were pushed (first come, first served).
function less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
