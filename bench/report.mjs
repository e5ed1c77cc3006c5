// The table and the issue's targets (ratios of throughput, same env, same shape).
import { PEAK_GOPS } from './suite.mjs';

// The MXFP4 / NF4 GEMVs multiply in f32 (x stays f32): the f32 peak.
const peakOf = (op) => (op.startsWith('f32') || /^(mxfp4|nf4)-gemv/.test(op) ? PEAK_GOPS.f32 : PEAK_GOPS.int);

export function printReport(rows, checks, shapes) {
  const envs = [...new Set(rows.map((r) => r.env))];
  console.log('\n| env | shape m×k×n | engine | op | median ms | GOPS | % SIMD peak | best-sample GOPS | best % peak |');
  console.log('|---|---|---|---|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    const pct = (v) => `${((100 * v) / peakOf(r.op)).toFixed(0)}%`;
    console.log(`| ${r.env} | ${r.m}×${r.k}×${r.n} | ${r.engine} | ${r.op} | ${r.median_ms.toFixed(3)} | ${r.gops.toFixed(1)} | ${pct(r.gops)} | ${r.best_gops.toFixed(1)} | ${pct(r.best_gops)} |`);
  }
  console.log(`\n(% of peak: ${PEAK_GOPS.int} GOPS for integer ops (i32x4.dot_i16x8_s), ${PEAK_GOPS.f32} GFLOP/s for f32 (f32x4 mul+add), one core;`);
  console.log(' ratios between engines use the medians; a kernel\'s share of the peak uses its best sample, the one the shared machine disturbed least)');

  const find = (env, engine, op, [m, k, n]) => rows.find((r) => r.env === env && r.engine === engine && r.op === op && r.m === m && r.k === k && r.n === n);
  const g = (env, engine, op, s) => find(env, engine, op, s)?.gops;
  const bestPeerF32 = (env, s) => Math.max(g(env, 'onnxruntime-web', 'f32', s) ?? 0, g(env, 'tfjs-wasm', 'f32', s) ?? 0);
  const lines = [];
  const target = (label, ratio, min, asShare = false) => {
    if (ratio === undefined || !Number.isFinite(ratio)) return;
    const show = (v) => (asShare ? `${(100 * v).toFixed(0)}%` : `${v.toFixed(2)}×`);
    lines.push(`| ${label} | ${show(ratio)} | ≥ ${asShare ? show(min) : `${min}×`} | ${ratio >= min ? 'met' : 'NOT met'} |`);
  };
  const int8Shapes = shapes.filter(([m]) => m >= 64);
  for (const env of envs) {
    const suffixes = [''];
    if (rows.some((r) => r.env === env && r.op.endsWith('-relaxed'))) suffixes.push('-relaxed');
    for (const sfx of suffixes) {
      const ours = (op, s) => g(env, 'quant-playground', op + sfx, s);
      const tag = `${env}${sfx ? ' relaxed' : ''}`;
      // Issue 16: INT8 GEMM at M ≥ 64 against MatMulInteger, the best f32 peer and the dot_i16x8 peak.
      for (const s of int8Shapes) {
        const name = s.join('×');
        target(`${tag} ${name} u8s8 vs ORT MatMulInteger u8s8`, ours('u8s8', s) / g(env, 'onnxruntime-web', 'u8s8', s), 1.3);
        target(`${tag} ${name} u8s8 vs best peer f32`, ours('u8s8', s) / bestPeerF32(env, s), 3);
        target(`${tag} ${name} u8s8 share of the dot_i16x8 peak (best sample)`, find(env, 'quant-playground', 'u8s8' + sfx, s)?.best_gops / PEAK_GOPS.int, 0.6, true);
      }
      if (sfx) {
        // Issue 16: the relaxed build pays (same page, same shape, round-robin with the SIMD128 build).
        for (const s of int8Shapes) {
          for (const op of ['u8s8', 's8s8', 'dyn-int8'])
            target(`${tag} ${s.join('×')} ${op} vs the SIMD128 build`, ours(op, s) / g(env, 'quant-playground', op, s), 1.25);
        }
      }
      // Issue 16: f32 at least as fast as XNNPACK (tfjs-backend-wasm) at every shape.
      for (const s of shapes) target(`${tag} ${s.join('×')} our f32 vs tfjs-wasm f32`, ours('f32', s) / g(env, 'tfjs-wasm', 'f32', s), 1.0);
      // Kept from the first kernels round (GEMV, INT4, s8s8, the dynamic path).
      for (const s of shapes) target(`${tag} ${s.join('×')} s8s8 vs ORT s8s8`, ours('s8s8', s) / g(env, 'onnxruntime-web', 's8s8', s), 10);
      const gemv = shapes.find(([m]) => m === 1);
      if (gemv) {
        const name = gemv.join('×');
        target(`${tag} ${name} INT8 GEMV (u8s8) vs best peer f32`, ours('u8s8', gemv) / bestPeerF32(env, gemv), 4);
        target(`${tag} ${name} INT8 GEMV (dyn-int8, f32 in/out) vs best peer f32`, ours('dyn-int8', gemv) / bestPeerF32(env, gemv), 4);
        target(`${tag} ${name} INT4 g32 GEMV vs best peer f32`, ours('int4-g32', gemv) / bestPeerF32(env, gemv), 2.5);
        target(`${tag} ${name} INT4 g32 GEMV vs ORT MatMulNBits`, ours('int4-g32', gemv) / g(env, 'onnxruntime-web', 'int4-g32', gemv), 50);
        // The MXFP4 / NF4 dequantize-on-the-fly GEMVs against ours in the same run (no target: measured).
        for (const f of ['mxfp4', 'nf4']) {
          for (const [peer, op] of [['our f32 GEMV', 'f32'], ['our INT4 g32 GEMV', 'int4-g32'], ['best peer f32', null]]) {
            const ratio = ours(`${f}-gemv`, gemv) / (op ? ours(op, gemv) : bestPeerF32(env, gemv));
            if (Number.isFinite(ratio)) lines.push(`| ${tag} ${name} ${f.toUpperCase()} GEMV vs ${peer} | ${ratio.toFixed(2)}× | — | measured (no target) |`);
          }
        }
      }
      for (const s of shapes) target(`${tag} ${s.join('×')} dyn-int8 vs our raw u8s8`, ours('dyn-int8', s) / ours('u8s8', s), 0.9);
    }
  }
  // Issue 16's multi-core target needs the page's worker pool, which this bench cannot time yet.
  lines.push('| whole-model work, worker pool on 2 cores vs one worker | — | ≥ 1.7× | not measured (no worker pool in this build) |');
  console.log('\n| target | ratio | goal | |\n|---|---:|---:|---|');
  for (const l of lines) console.log(l);
  console.log('\nchecks:');
  for (const c of checks) console.log(`  ${c}`);
}

// Calibration rows (suite.mjs's runCalib) and issue 4's target: all methods on 10 M values in Chromium < 1.5 s.
export const CALIB_TARGET_MS = 1500;

export function printCalibReport(rows, checks) {
  console.log('\n| env | engine | op | n | median ms | runs | issue 4 target (< 1.5 s in Chromium) |');
  console.log('|---|---|---|---:|---:|---:|---|');
  for (const r of rows) {
    const goal = r.env === 'chromium' && r.op === 'calibrate-all' ? (r.median_ms < CALIB_TARGET_MS ? 'met' : 'NOT met') : '';
    console.log(`| ${r.env} | ${r.engine} | ${r.op} | ${r.n} | ${r.median_ms.toFixed(1)} | ${r.runs} | ${goal} |`);
  }
  console.log('\n(calibrate-all: ranges of minmax, percentile:99.99, mse, entropy, entropy:trt; calibrate-report: the same plus');
  console.log(' fake-quantizing the values with each range to measure MSE, SQNR and clipped share. int8 symmetric, per tensor,');
  console.log(' one thread, simd128 build; each time includes copying the values into the module.)');
  console.log('\nchecks:');
  for (const c of checks) console.log(`  ${c}`);
}

/** The streamed five-format comparison: M elements/s per engine and size, and each against numpy's. */
export function printCompareReport(rows) {
  console.log('\nFive-format comparison (fp32, fp16, bf16, int8 sym channel:0, int4 asym group:32), M elements/s');
  console.log('| engine | where | elements | M elements/s | × numpy (CPU) | × numpy (wall) |');
  console.log('|---|---|---:|---:|---:|---:|');
  const numpy = (n) => rows.find((r) => r.env === 'numpy' && r.elements === n);
  for (const r of rows) {
    const np = numpy(r.elements);
    const ratio = (v) => (np && v ? (r.melem_per_s / v).toFixed(2) : '–');
    const where = r.env === 'numpy' ? `numpy ${r.numpy}` : r.env === 'native' ? `native (${r.kernels}, CPU s)` : `${r.env} (${r.kernels}, wall${r.dtype && r.dtype !== 'F32' ? `, ${r.dtype} stored` : ''})`;
    console.log(`| ${r.engine} | ${where} | ${r.elements} | ${r.melem_per_s} | ${r.env === 'numpy' ? '1.00' : ratio(np?.melem_per_s)} | ${r.env === 'numpy' ? '–' : ratio(np?.wall_melem_per_s)} |`);
  }
}
