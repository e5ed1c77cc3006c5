// The five-format comparison (fp32, fp16, bf16, int8 sym channel:0, int4 asym group:32) streamed
// through the core's ComparisonJob in chunks of whole rows, the same in Node and in Chromium, the way
// the page's worker drives it (www/worker/compare.js streamColumns): each chunk decoded once
// (`decode`), then fed to one column at a time (`feed_range_column` in the first read,
// `feed_column` in the second). M elements/s of the two reads; each part is timed on its own too
// (the profile: decode, and each column's range and measuring passes). Data made beforehand and not
// timed; a few distinct chunks are cycled through, so a 235 M-element tensor needs one chunk of memory.
export const COMPARE_SHAPES = [
  [2500, 4000], // 10 M elements
  [28672, 8192], // 235 M: a 70B-class MLP weight
];
/** The stored dtypes measured: F32 at every shape (numpy's peer reads f32); BF16, as checkpoints store it, at the largest. */
export const COMPARE_DTYPES = ['F32', 'BF16'];
export const COMPARE_COLUMNS = JSON.stringify([
  'fp32',
  'fp16',
  'bf16',
  { bits: 8, scheme: 'symmetric', granularity: 'channel:0' },
  { bits: 4, scheme: 'asymmetric', granularity: 'group:32' },
]);
const CHUNK_ELEMENTS = 1 << 22;
const DISTINCT_CHUNKS = 3;

function chunkOf(rows, cols, seed, dtype) {
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
  if (dtype === 'F32') return new Uint8Array(x.buffer);
  // BF16: the top halves (truncated; the values are what the tensor holds).
  const bits = new Uint32Array(x.buffer);
  const b = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) b[i] = bits[i] >>> 16;
  return new Uint8Array(b.buffer);
}

/**
 * One streamed comparison of a [rows, cols] tensor; returns the ms of all its calls (`ms`), the
 * parts (`parts`: decode, then per column range and measure, finish), and the rows.
 */
function compareOnce(mod, rows, cols, dtype, chunks, chunkRows, columnsJson) {
  const size = dtype === 'F32' ? 4 : 2;
  const info = JSON.stringify({ name: 'w', dtype, shape: [rows, cols], offset: 0, byte_len: rows * cols * size, big_endian: false, fortran_order: false });
  const job = mod.ComparisonJob.of_columns(info, columnsJson);
  const n = job.columns();
  const ranged = Array.from({ length: n }, (_, i) => job.column_needs_range(i));
  const parts = { decode: 0, range: new Array(n).fill(0), measure: new Array(n).fill(0), finish: 0 };
  const t0 = performance.now();
  for (const read of ranged.some(Boolean) ? ['range', 'measure'] : ['measure']) {
    for (let r = 0, k = 0; r < rows; r += chunkRows, k++) {
      const c = chunks[k % chunks.length].subarray(0, Math.min(chunkRows, rows - r) * cols * size);
      let t = performance.now();
      job.decode(c);
      parts.decode += performance.now() - t;
      for (let i = 0; i < n; i++) {
        if (read === 'range' && !ranged[i]) continue;
        t = performance.now();
        if (read === 'range') job.feed_range_column(i);
        else job.feed_column(i);
        parts[read][i] += performance.now() - t;
      }
    }
    if (read === 'range') job.end_range_pass();
  }
  const t = performance.now();
  const out = JSON.parse(job.finish());
  parts.finish = performance.now() - t;
  return { ms: performance.now() - t0, parts, out };
}

export async function runCompare({ env, mod, log = console.log, shapes = COMPARE_SHAPES, dtypes = COMPARE_DTYPES, samples = 3, columns = COMPARE_COLUMNS }) {
  const rows = [];
  for (const dtype of dtypes) {
    for (const [r, c] of dtype === 'F32' ? shapes : shapes.slice(-1)) {
      const chunkRows = Math.max(1, Math.floor(CHUNK_ELEMENTS / c));
      const chunks = Array.from({ length: DISTINCT_CHUNKS }, (_, k) => chunkOf(chunkRows, c, 42 + k, dtype));
      compareOnce(mod, Math.min(r, chunkRows * 2), c, dtype, chunks, chunkRows, columns); // warm-up (tier-up)
      let best;
      for (let s = 0; s < samples; s++) {
        const run = compareOnce(mod, r, c, dtype, chunks, chunkRows, columns);
        if (!best || run.ms < best.ms) best = run;
      }
      const n = r * c;
      const ns = (ms) => +((ms * 1e6) / n).toFixed(3);
      const profile = {
        decode: ns(best.parts.decode),
        columns: best.out.map((o, i) => ({ config: o.config, range: ns(best.parts.range[i]), measure: ns(best.parts.measure[i]) })),
        finish: ns(best.parts.finish),
      };
      const row = { env, engine: 'quant-playground', op: 'compare-5-formats', dtype, kernels: mod.kernel_build(), rows: r, cols: c, elements: n, best_ms: +best.ms.toFixed(1), melem_per_s: +(n / best.ms / 1e3).toFixed(1), configs: best.out.map((o) => o.config), profile_ns_per_element: profile };
      rows.push(row);
      log(`  ${env.padEnd(8)} compare ${dtype} ${n} elements [${r}, ${c}] in chunks of ${chunkRows} rows: ${best.ms.toFixed(0)} ms best of ${samples} = ${row.melem_per_s} M elements/s`);
      log(`           ns per element: decode ${profile.decode} (both reads), ${profile.columns.map((p) => `${p.config} ${p.range ? `${p.range} + ` : ''}${p.measure}`).join(', ')}, finish ${profile.finish}`);
    }
  }
  return rows;
}

/**
 * Issue 20's targets, each with its ratio and whether it is met, from one run's rows: the five-format
 * comparison in Chromium at ≥ 50 M elements/s on one core and at ≥ 3× numpy's throughput for the same
 * computation (numpy's CPU-time throughput, the stricter one: the wasm rows are wall time), per size.
 */
export function printCompareTargets(rows, log = console.log) {
  log('\nIssue 20 targets (five-format comparison, F32 tensor, one core; Chromium wall time against numpy CPU time)');
  log('| elements | target | measured | ratio | |');
  log('|---:|---|---:|---:|---|');
  for (const [r, c] of COMPARE_SHAPES) {
    const n = r * c;
    const page = rows.find((x) => x.env === 'chromium' && x.elements === n && (x.dtype ?? 'F32') === 'F32');
    const numpy = rows.find((x) => x.env === 'numpy' && x.elements === n);
    const met = (ok) => (ok ? 'met' : 'not met');
    if (!page) {
      log(`| ${n} | Chromium ≥ 50 M elements/s | – | – | not measured |`);
      continue;
    }
    log(`| ${n} | Chromium ≥ 50 M elements/s | ${page.melem_per_s} M/s | ${(page.melem_per_s / 50).toFixed(2)}× | ${met(page.melem_per_s >= 50)} |`);
    if (numpy) {
      const ratio = page.melem_per_s / numpy.melem_per_s;
      log(`| ${n} | Chromium ≥ 3× numpy (${numpy.melem_per_s} M/s CPU, ${numpy.wall_melem_per_s} M/s wall) | ${page.melem_per_s} M/s | ${ratio.toFixed(2)}× | ${met(ratio >= 3)} |`);
    } else {
      log(`| ${n} | Chromium ≥ 3× numpy | – | – | numpy not measured |`);
    }
  }
}
