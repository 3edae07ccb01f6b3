// Step growth measured fairly: two workflows, "long" with `total - 10` steps recorded and "short"
// with 10 (untimed), then they take turns, one step in flight, `timed` steps each, each timed from
// inside. Step ~`total` and step ~10 are measured one by one in the same seconds, so a drift of
// the disk or of the machine's load between early and late steps cannot show as growth (timing
// steps 1-20 and then the last 20 of one workflow, seconds apart, did).
// `makeClient(handlers)` returns a started-nothing LidexClient on the store to measure.
import { median } from './stats.mjs';

export async function stepGrowth(makeClient, { total = 1000, timed = 40 } = {}) {
  const times = { long: [], short: [] };
  let turn = Promise.resolve();
  let ready = 0;
  let go;
  const started = new Promise((resolve) => (go = resolve));
  const run = (name, before) => async (ctx) => {
    for (let i = 0; i < before; i++) await ctx.step(`pre-${i}`, () => ({ i }));
    if (++ready === 2) go();
    await started;
    for (let k = 0; k < timed; k++) {
      let done;
      const mine = turn;
      turn = new Promise((resolve) => (done = resolve));
      await mine;
      const t0 = performance.now();
      await ctx.step(`timed-${k}`, () => ({ k, ok: true }));
      times[name].push(performance.now() - t0);
      done();
    }
  };
  const client = makeClient({ long: run('long', total - 10), short: run('short', 10) });
  await client.start('long', 'long');
  await client.start('short', 'short');
  const stats = await client.drain();
  if (stats.completed !== 2)
    throw new Error(`the workflows did not complete: ${JSON.stringify(stats)}`);
  const early = median(times.short);
  const late = median(times.long);
  return { early, late, ratio: late / early };
}
