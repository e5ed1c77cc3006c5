// The five-format comparison (fp32, fp16, bf16, int8 sym channel:0, int4 asym group:32) streamed
// through the core's ComparisonJob in chunks of whole rows, the same in Node and in Chromium: M
// elements/s of the two reads (range, then measure), data made beforehand and not timed. A few
// distinct chunks are cycled through, so a 235 M-element tensor needs one chunk of memory.
export const COMPARE_SHAPES = [
  [2500, 4000], // 10 M elements
  [28672, 8192], // 235 M: a 70B-class MLP weight
];
export const COMPARE_SPECS = JSON.stringify([
  { bits: 8, scheme: 'symmetric', granularity: 'channel:0' },
  { bits: 4, scheme: 'asymmetric', granularity: 'group:32' },
]);
const CHUNK_ELEMENTS = 1 << 22;
const DISTINCT_CHUNKS = 3;

function chunkOf(rows, cols, seed) {
  let s = seed >>> 0 || 1;
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    const u = s / 4294967296 - 0.5;
    // A weight-like spread with an outlier every 997 values.
    x[i] = i % 997 === 5 ? u * 0.8 : u * 0.04;
  }
  return new Uint8Array(x.buffer);
}

/** One streamed comparison of a [rows, cols] F32 tensor; returns ms of the feeds and finish. */
function compareOnce(mod, rows, cols, chunks, chunkRows, specs) {
  const info = JSON.stringify({ name: 'w', dtype: 'F32', shape: [rows, cols], offset: 0, byte_len: rows * cols * 4, big_endian: false, fortran_order: false });
  const job = new mod.ComparisonJob(info, specs);
  const t = performance.now();
  for (const read of job.needs_range_pass() ? ['range', 'measure'] : ['measure']) {
    for (let r = 0, k = 0; r < rows; r += chunkRows, k++) {
      const n = Math.min(chunkRows, rows - r) * cols * 4;
      const c = chunks[k % chunks.length].subarray(0, n);
      if (read === 'range') job.feed_range(c);
      else job.feed(c);
    }
    if (read === 'range') job.end_range_pass();
  }
  const out = JSON.parse(job.finish());
  return { ms: performance.now() - t, out };
}

export async function runCompare({ env, mod, log = console.log, shapes = COMPARE_SHAPES, samples = 3, specs = COMPARE_SPECS }) {
  const rows = [];
  for (const [r, c] of shapes) {
    const chunkRows = Math.max(1, Math.floor(CHUNK_ELEMENTS / c));
    const chunks = Array.from({ length: DISTINCT_CHUNKS }, (_, k) => chunkOf(chunkRows, c, 42 + k));
    compareOnce(mod, Math.min(r, chunkRows * 2), c, chunks, chunkRows, specs); // warm-up (tier-up)
    const ms = [];
    let out;
    for (let s = 0; s < samples; s++) ({ ms: ms[s], out } = compareOnce(mod, r, c, chunks, chunkRows, specs));
    const best = Math.min(...ms);
    const n = r * c;
    const row = { env, engine: 'quant-playground', op: 'compare-5-formats', kernels: mod.kernel_build(), rows: r, cols: c, elements: n, best_ms: +best.toFixed(1), melem_per_s: +(n / best / 1e3).toFixed(1), configs: out.map((o) => o.config) };
    rows.push(row);
    log(`  ${env.padEnd(8)} compare ${n} elements [${r}, ${c}] in chunks of ${chunkRows} rows: ${best.toFixed(0)} ms best of ${samples} = ${row.melem_per_s} M elements/s`);
  }
  return rows;
}
