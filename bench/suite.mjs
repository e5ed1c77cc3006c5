// The benchmark itself, the same in Node and in Chromium: ours vs onnxruntime-web vs tfjs-backend-wasm,
// one thread, warm-up then the median of `samples` timed samples (each sample repeats the call until
// it lasts ≥ minSampleMs, to stay above the browser's coarse timer).
import * as models from './onnx.mjs';

export const SHAPES = [
  [1, 4096, 4096],
  [64, 768, 3072],
  [256, 1024, 1024],
  [512, 512, 512],
];
// The 4-bit LUT GEMVs timed at m = 1 (Lut4Weights formats).
export const LUT4_FORMATS = ['mxfp4', 'nf4'];
// One core's SIMD128 peaks on this machine (DESIGN.md): i32x4.dot_i16x8_s and f32x4 mul+add.
export const PEAK_GOPS = { int: 116, f32: 58 };

function xorshift(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

/**
 * Times candidates round-robin: after warm-up, each sample round runs every candidate once (one sample
 * = `reps` calls, chosen so a sample lasts ≥ minSampleMs), so a load spike on a shared machine hits all
 * engines of a shape alike. Returns [median, best] ms per call of each candidate: the median for the
 * ratios between engines, the best sample for a kernel's share of the machine's peak (the sample the
 * other sessions on the shared cores disturbed least).
 */
async function measureAll(cands, { samples, minSampleMs, warmup }) {
  for (const c of cands) {
    // At least `warmup` calls and 300 ms: on a loaded machine V8's background tier-up (Liftoff → TurboFan)
    // can take that long, and a sample of Liftoff code measures the compiler's queue, not the kernel.
    const w0 = performance.now();
    for (let i = 0; i < warmup || performance.now() - w0 < 300; i++) await c.fn();
    const t0 = performance.now();
    await c.fn();
    c.reps = Math.max(1, Math.ceil(minSampleMs / Math.max(performance.now() - t0, 0.005)));
    c.xs = [];
  }
  for (let s = 0; s < samples; s++) {
    for (const c of cands) {
      const t = performance.now();
      for (let r = 0; r < c.reps; r++) await c.fn();
      c.xs.push((performance.now() - t) / c.reps);
    }
  }
  return cands.map((c) => {
    const xs = [...c.xs].sort((a, b) => a - b);
    return [xs[xs.length >> 1], xs[0]];
  });
}

const transpose = (src, rows, cols, Ctor) => {
  const out = new Ctor(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
  return out;
};

/** int4 symmetric per block (narrow range −7..7, the numerics contract), MatMulNBits layout: u = q + 8. */
function int4Blocks(w, n, k, bs) {
  const blocks = Math.ceil(k / bs);
  const packed = new Uint8Array(n * blocks * (bs / 2));
  const scales = new Float32Array(n * blocks);
  for (let j = 0; j < n; j++)
    for (let b = 0; b < blocks; b++) {
      let amax = 0;
      for (let i = b * bs; i < Math.min(k, (b + 1) * bs); i++) amax = Math.max(amax, Math.abs(w[j * k + i]));
      const s = amax / 7 || 1;
      scales[j * blocks + b] = s;
      for (let i = b * bs; i < Math.min(k, (b + 1) * bs); i++) {
        const q = Math.max(-7, Math.min(7, Math.round(w[j * k + i] / s)));
        const e = i - b * bs;
        packed[(j * blocks + b) * (bs / 2) + (e >> 1)] |= (q + 8) << ((e & 1) * 4);
      }
    }
  return { packed, scales };
}

const maxRelDiff = (a, b) => {
  let d = 0,
    s = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    s = Math.max(s, Math.abs(b[i]));
  }
  return d / (s || 1);
};

/**
 * env: 'node' | 'chromium'; ours: {name: wasm-bindgen module} (e.g. {simd128, relaxed}); ort; tf (backend set).
 * Returns rows {env, engine, op, m, k, n, median_ms, gops} and check lines.
 */
export async function runSuite({ env, ours, ort, tf, log = console.log, shapes = SHAPES, samples = 11, minSampleMs = 25, warmup = 2 }) {
  const rows = [];
  const checks = [];
  const opts = { samples, minSampleMs, warmup };
  const add = (engine, op, [m, k, n], [ms, best]) => {
    const gops = (t) => +((2 * m * n * k) / t / 1e6).toFixed(2);
    const row = { env, engine, op, m, k, n, median_ms: +ms.toFixed(4), gops: gops(ms), best_ms: +best.toFixed(4), best_gops: gops(best) };
    rows.push(row);
    log(`  ${env.padEnd(8)} ${engine.padEnd(16)} ${op.padEnd(16)} ${m}x${k}x${n}: ${ms.toFixed(3)} ms, ${row.gops} GOPS (best ${row.best_gops})`);
  };
  const sessionOf = (bytes) => ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });

  for (const shape of shapes) {
    const [m, k, n] = shape;
    const rnd = xorshift(m * 7919 + k * 31 + n);
    const x = Float32Array.from({ length: m * k }, () => rnd() * 2 - 1);
    const w = Float32Array.from({ length: n * k }, () => (rnd() * 2 - 1) * 0.05);
    const wq = Int8Array.from({ length: n * k }, () => Math.floor(rnd() * 255) - 127);
    const wScales = new Float32Array(n).fill(0.05 / 127);
    const au = Uint8Array.from({ length: m * k }, () => Math.floor(rnd() * 256));
    const as = Int8Array.from({ length: m * k }, () => Math.floor(rnd() * 256) - 128);
    const aZero = 128;
    const wT = transpose(w, n, k, Float32Array);
    const wqT = transpose(wq, n, k, Int8Array);

    // Candidates of this shape, timed together (round-robin) once all are built and checked.
    const cands = [];
    const cleanup = [];
    const cand = (engine, op, fn) => cands.push({ engine, op, fn });

    // ---- ours (each build)
    const results = {};
    for (const [build, mod] of Object.entries(ours)) {
      const tag = (op) => (build === 'simd128' ? op : `${op}-${build}`);
      const f32w = new mod.F32Weights(w, n, k);
      const i8w = new mod.Int8Weights(wq, n, k, wScales);
      const i4w = mod.Int4Weights.quantize(w, n, k, 32, false, false);
      results[build] = {
        f32: f32w.matmul(x, m),
        u8s8: i8w.matmul_u8_i32(au, m, aZero),
        s8s8: i8w.matmul_s8_i32(as, m, 0),
        dyn: i8w.matmul_dynamic(x, m, false),
        int4: i4w.matmul_dynamic(x, m),
      };
      cand('quant-playground', tag('f32'), () => f32w.matmul(x, m));
      cand('quant-playground', tag('u8s8'), () => i8w.matmul_u8_i32(au, m, aZero));
      cand('quant-playground', tag('s8s8'), () => i8w.matmul_s8_i32(as, m, 0));
      cand('quant-playground', tag('dyn-int8'), () => i8w.matmul_dynamic(x, m, false));
      cand('quant-playground', tag('int4-g32'), () => i4w.matmul_dynamic(x, m));
      cleanup.push(() => (f32w.free(), i8w.free(), i4w.free()));
      // ---- MXFP4 and NF4 dequantize-on-the-fly GEMV (kernels::lut4), GEMV shapes only: f32 x × W as
      // codes + scales; the report reads their medians against our f32 and INT4 g32 GEMVs of this round.
      if (m === 1) {
        for (const f of LUT4_FORMATS) {
          const lw = mod.Lut4Weights.quantize(w, n, k, f);
          results[build][f] = lw.matmul(x, m);
          cand('quant-playground', tag(`${f}-gemv`), () => lw.matmul(x, m));
          cleanup.push(() => lw.free());
        }
      }
    }
    const base = results.simd128;
    for (const [build, r] of Object.entries(results)) {
      if (build === 'simd128') continue;
      const same = ['u8s8', 's8s8'].every((op) => r[op].every((v, i) => v === base[op][i]));
      checks.push(`${env} ${m}x${k}x${n}: ${build} build ${same ? 'bit-identical to' : 'DIFFERS from'} simd128 on u8s8/s8s8`);
      for (const f of LUT4_FORMATS.filter((f) => r[f])) {
        const bits = (v) => new Uint32Array(v.buffer, v.byteOffset, v.length);
        const equal = bits(r[f]).every((v, i) => v === bits(base[f])[i]);
        checks.push(`${env} ${m}x${k}x${n}: ${build} build ${equal ? 'bit-identical to' : 'DIFFERS from'} simd128 on the ${f} GEMV`);
      }
    }
    for (const f of LUT4_FORMATS.filter((f) => base[f])) {
      checks.push(`${env} ${m}x${k}x${n}: ${f} GEMV vs our f32 max rel diff ${maxRelDiff(base[f], base.f32).toExponential(2)} (the format's rounding of W)`);
    }

    // ---- onnxruntime-web
    const ortRun = async (bytes, name, type, data, op, check) => {
      const sess = await sessionOf(bytes);
      const feed = { A: new ort.Tensor(type, data, [m, k]) };
      const run = async () => (await sess.run(feed)).Y.data;
      check(await run());
      cand('onnxruntime-web', op, run);
      cleanup.push(() => sess.release());
    };
    await ortRun(models.matmulF32(m, k, n, wT), 'f32', 'float32', x, 'f32', (y) => checks.push(`${env} ${m}x${k}x${n}: f32 ours vs ORT max rel diff ${maxRelDiff(base.f32, y).toExponential(2)}`));
    await ortRun(models.matmulInteger(m, k, n, false, aZero, wqT), 'u8s8', 'uint8', au, 'u8s8', (y) =>
      checks.push(`${env} ${m}x${k}x${n}: u8s8 ours ${base.u8s8.every((v, i) => v === y[i]) ? '==' : '!='} ORT MatMulInteger (exact i32)`),
    );
    await ortRun(models.matmulInteger(m, k, n, true, 0, wqT), 's8s8', 'int8', as, 's8s8', (y) =>
      checks.push(`${env} ${m}x${k}x${n}: s8s8 ours ${base.s8s8.every((v, i) => v === y[i]) ? '==' : '!='} ORT MatMulInteger (exact i32)`),
    );
    await ortRun(models.dynamicQuantizeMatMul(m, k, n, wqT, wScales), 'dyn', 'float32', x, 'dyn-int8', (y) =>
      checks.push(`${env} ${m}x${k}x${n}: dyn-int8 ours vs ORT DynamicQuantizeMatMul max rel diff ${maxRelDiff(base.dyn, y).toExponential(2)}`),
    );
    const nb = int4Blocks(w, n, k, 32);
    await ortRun(models.matMulNBits(m, k, n, 32, nb.packed, nb.scales), 'int4', 'float32', x, 'int4-g32', (y) =>
      checks.push(`${env} ${m}x${k}x${n}: int4-g32 ours vs ORT MatMulNBits max rel diff ${maxRelDiff(base.int4, y).toExponential(2)}`),
    );

    // ---- tfjs-backend-wasm (XNNPACK)
    const a = tf.tensor2d(x, [m, k]);
    const b = tf.tensor2d(wT, [k, n]);
    const tfRun = () => {
      const c = tf.matMul(a, b);
      const d = c.dataSync();
      c.dispose();
      return d;
    };
    checks.push(`${env} ${m}x${k}x${n}: f32 ours vs tfjs max rel diff ${maxRelDiff(base.f32, tfRun()).toExponential(2)}`);
    cand('tfjs-wasm', 'f32', tfRun);
    cleanup.push(() => (a.dispose(), b.dispose()));

    const times = await measureAll(cands, opts);
    cands.forEach((c, i) => add(c.engine, c.op, shape, times[i]));
    for (const f of cleanup) await f();
  }
  return { rows, checks };
}

// ---- Calibration (issue 4's Performance target: 10 million values, every method, in wasm) --------------

export const CALIB_N = 10_000_000;
export const CALIB_SEED = 20260427;
const CALIB_METHODS = 'all'; // minmax, percentile:99.99, mse, entropy, entropy:trt

/** Seeded N(0, 1) (Box–Muller over xorshift) with 0.1% of the values replaced by ±20σ, as src/app/synthetic.rs's GaussianOutliers. */
export function gaussianOutliers(n, seed) {
  const rnd = xorshift(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = 1 - rnd();
    const r = Math.sqrt(-2 * Math.log(u));
    const t = 2 * Math.PI * rnd();
    x[i] = r * Math.cos(t);
    if (i + 1 < n) x[i + 1] = r * Math.sin(t);
  }
  for (let i = 0; i < n; i++) if (rnd() < 0.001) x[i] = x[i] < 0 ? -20 : 20;
  return x;
}

/**
 * Per tensor, int8 symmetric, on `n` seeded values with all methods, in the module `mod`:
 *  calibrate-all: the ranges only (calibrate_ranges: min/max pass, the histograms, every method's search);
 *  calibrate-report: the CLI's `calibrate --json` (calibrate_tensor: the same, then fake-quantizing the data
 *    with each range to measure MSE, SQNR and clipped share).
 * Each time includes copying the values into the module. Warm-up, then the median of `samples` single calls.
 * Rows {env, engine, op, n, median_ms, runs}.
 */
export async function runCalib({ env, mod, log = console.log, n = CALIB_N, samples = 5, warmup = 1 }) {
  const rows = [];
  const checks = [];
  const t0 = performance.now();
  const x = gaussianOutliers(n, CALIB_SEED);
  log(`  ${env.padEnd(8)} calibration data: ${n} values (seed ${CALIB_SEED}) made in ${(performance.now() - t0).toFixed(0)} ms`);
  const bytes = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const info = JSON.stringify({ name: 'x', dtype: 'F32', shape: [n], offset: 0, byte_len: x.byteLength, big_endian: false, fortran_order: false });
  const cands = [
    { op: 'calibrate-all', fn: () => mod.calibrate_ranges(x, 8, 'symmetric', CALIB_METHODS) },
    { op: 'calibrate-report', fn: () => mod.calibrate_tensor(info, bytes, 8, 'symmetric', CALIB_METHODS, false) },
  ];
  for (const c of cands) {
    for (let i = 0; i < warmup; i++) c.out = c.fn();
    c.xs = [];
  }
  for (let s = 0; s < Math.max(5, samples); s++) {
    for (const c of cands) {
      const t = performance.now();
      c.out = c.fn();
      c.xs.push(performance.now() - t);
    }
  }
  for (const c of cands) {
    const ms = [...c.xs].sort((a, b) => a - b)[c.xs.length >> 1];
    rows.push({ env, engine: 'quant-playground', op: c.op, n, median_ms: +ms.toFixed(2), runs: c.xs.length });
    log(`  ${env.padEnd(8)} quant-playground ${c.op.padEnd(16)} n=${n}: ${ms.toFixed(1)} ms (median of ${c.xs.length}; min ${Math.min(...c.xs).toFixed(1)}, max ${Math.max(...c.xs).toFixed(1)})`);
  }
  const ranges = JSON.parse(cands[0].out);
  const report = JSON.parse(cands[1].out).methods;
  const same = ranges.length === report.length && ranges.every((r, i) => r.method === report[i].method && r.range[0] === report[i].range[0] && r.range[1] === report[i].range[1]);
  checks.push(`${env} calibration: calibrate_ranges ${same ? 'matches' : 'DIFFERS from'} calibrate_tensor's ranges`);
  for (const r of report)
    checks.push(`${env} calibration ${r.method}: range [${r.range.map((v) => v.toPrecision(5)).join(', ')}], SQNR ${typeof r.sqnr_db === 'number' ? r.sqnr_db.toFixed(2) : r.sqnr_db} dB, clipped ${(100 * r.clipped_share).toFixed(3)}%`);
  return { rows, checks };
}
