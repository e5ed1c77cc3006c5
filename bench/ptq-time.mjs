// The timing loop of the whole-model rows, the same in Node and in Chromium: per model variant a session
// (wasm, graph optimizations on, as the page runs it), warm-up runs, then the median of timed runs of one
// inference on the same sample.
export async function timeModels(ort, plan, fetchBytes, env) {
  const rows = [];
  for (const model of plan.models) {
    const feeds = {};
    for (const input of model.inputs) {
      const bytes = await fetchBytes(input.url);
      const data = input.type === 'int64' ? new BigInt64Array(bytes.buffer) : new Float32Array(bytes.buffer);
      feeds[input.name] = new ort.Tensor(input.type, data, input.dims);
    }
    for (const variant of model.variants) {
      const session = await ort.InferenceSession.create(await fetchBytes(variant.url), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      for (let i = 0; i < plan.warmup; i++) await session.run(feeds, [model.output]);
      const times = [];
      for (let i = 0; i < plan.runs; i++) {
        const started = performance.now();
        await session.run(feeds, [model.output]);
        times.push(performance.now() - started);
      }
      await session.release();
      times.sort((a, b) => a - b);
      rows.push({ env, model: model.name, variant: variant.label, median_ms: times[Math.floor(times.length / 2)], runs: plan.runs });
    }
  }
  return rows;
}
