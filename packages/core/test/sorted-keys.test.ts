import { SortedKeys } from '../src/sorted-keys.js';
import { compareKeys, pageKeys } from '../src/adapter.js';

describe("SortedKeys (the memory storage's list order)", () => {
  it('pages every prefix exactly as sorting all keys would, through adds, deletes and chunk splits', () => {
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const alphabet = ['a', 'b', '/', 'z', 'é', '😀', 'ｱ', '0'];
    const sorted = new SortedKeys();
    const all = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const key = Array.from(
        { length: 1 + random(6) },
        () => alphabet[random(alphabet.length)],
      ).join('');
      if (random(4) === 0 && all.size > 0) {
        const victim = [...all][random(all.size)] as string;
        all.delete(victim);
        sorted.delete(victim);
      } else {
        all.add(key);
        sorted.add(key);
      }
    }
    for (const prefix of ['', 'a', 'b/', 'z😀', 'é', '0a', 'zzzzzzz']) {
      for (const limit of [1, 7, 1000]) {
        const expected: string[] = [];
        let cursor: string | undefined;
        for (;;) {
          const page = pageKeys(
            [...all].filter((k) => k.startsWith(prefix)),
            cursor === undefined ? { limit } : { limit, cursor },
          );
          expected.push(...page.keys);
          const mine = sorted.page(prefix, limit, cursor);
          expect(mine.keys).toEqual(page.keys);
          expect(mine.more).toBe(page.cursor !== undefined);
          if (page.cursor === undefined) break;
          cursor = page.cursor;
        }
        expect(expected).toEqual([...all].filter((k) => k.startsWith(prefix)).sort(compareKeys));
      }
    }
  });
});
