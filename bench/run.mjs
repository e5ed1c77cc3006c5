// `npm run bench [-- --json FILE] [--quick] [--only node|chromium] [--calib-only | --no-calib]
// [--compare-only | --no-compare] [--gemv-only]`: the suite
// in Node (this process) and in headless Chromium (playwright-core driving /usr/bin/chromium, a static
// server for the page), then one table with ms, GOPS, % of the SIMD peak, and the target ratios;
// then calibration (10 million values, every method: suite.mjs's runCalib) and its table.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCalib, runSuite, SHAPES } from './suite.mjs';
import { COMPARE_SHAPES, printCompareTargets, runCompare } from './compare.mjs';
import { spawnSync } from 'node:child_process';
import { printCalibReport, printCompareReport, printReport } from './report.mjs';
import { launchChromium, serveFiles } from './serve.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const jsonAt = args.indexOf('--json');
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : null;
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : null;
const quick = args.includes('--quick');
// --gemv-only: the suite on its m = 1 shape alone (the GEMV rows: f32, INT8, INT4, MXFP4, NF4 and the peers).
const shapes = args.includes('--gemv-only') ? SHAPES.filter(([m]) => m === 1) : SHAPES;
const suiteOpts = { ...(quick ? { samples: 3, minSampleMs: 5, warmup: 1 } : { samples: 11, minSampleMs: 25, warmup: 2 }), shapes };
// Which parts run: 'both' (default), 'only' (--calib-only: calibration alone) or 'none' (--no-calib).
const calib = args.includes('--calib-only') ? 'only' : args.includes('--no-calib') ? 'none' : 'both';
const calibOpts = quick ? { samples: 5, warmup: 1 } : { samples: 9, warmup: 1 };
// The streamed five-format comparison (bench/compare.mjs), with its native and numpy peers: 'both'
// (after the rest), 'only' (--compare-only) or 'none' (--no-compare). --compare-only skips the suite
// and the calibration.
const compare = args.includes('--compare-only') ? 'only' : args.includes('--no-compare') ? 'none' : 'both';
const compareOpts = { samples: quick ? 2 : 3 };
const merge = (a, b) => ({ rows: [...a.rows, ...b.rows], checks: [...a.checks, ...b.checks] });

async function inNode() {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const tf = await import('@tensorflow/tfjs-core');
  const tfwasm = await import('@tensorflow/tfjs-backend-wasm');
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  tfwasm.setThreadsCount(1);
  tfwasm.setWasmPaths(join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist') + '/');
  await tf.setBackend('wasm');
  const mod = await import(join(root, 'bench/pkg/simd128/quant_playground.js'));
  mod.initSync({ module: readFileSync(join(root, 'bench/pkg/simd128/quant_playground_bg.wasm')) });
  console.log(`[bench] node ${process.version}: quant-playground ${mod.kernel_build()}, onnxruntime-web ${ort.env.versions?.web ?? ''}, tfjs ${tf.version_core} (${tf.getBackend()})`);
  // Node 20 gets relaxed-simd wrong (TOOLCHAIN.md): the relaxed build runs in Chromium only.
  let r = { rows: [], checks: [] };
  if (compare !== 'only' && calib !== 'only') r = merge(r, await runSuite({ env: 'node', ours: { simd128: mod }, ort, tf, ...suiteOpts }));
  if (compare !== 'only' && calib !== 'none') r = merge(r, await runCalib({ env: 'node', mod, ...calibOpts }));
  if (compare !== 'none') r = merge(r, { rows: await runCompare({ env: 'node', mod, ...compareOpts }), checks: [] });
  return r;
}

async function inChromium() {
  const { server, origin } = await serveFiles((path) => join(root, path));
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(m.text()));
    page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
    const q = new URLSearchParams({ opts: JSON.stringify(suiteOpts), calib, calibOpts: JSON.stringify(calibOpts), compare, compareOpts: JSON.stringify(compareOpts) });
    await page.goto(`${origin}/bench/index.html?${q}`);
    const out = await page.waitForFunction(() => window.benchResult, null, { timeout: 0, polling: 1000 });
    const result = await out.jsonValue();
    if (result.error) throw new Error(`chromium: ${result.error}`);
    return result;
  } finally {
    await browser.close();
    server.close();
  }
}

const rows = [];
const checks = [];
for (const [name, fn] of [
  ['node', inNode],
  ['chromium', inChromium],
]) {
  if (only && only !== name) continue;
  const r = await fn();
  rows.push(...r.rows);
  checks.push(...r.checks);
}
const isCalib = (r) => r.op.startsWith('calibrate');
const isCompare = (r) => r.op === 'compare-5-formats';
if (compare !== 'only' && calib !== 'only') printReport(rows.filter((r) => !isCalib(r) && !isCompare(r)), calib === 'none' ? checks : [], shapes);
if (compare !== 'only' && calib !== 'none') printCalibReport(rows.filter(isCalib), checks);
if (compare !== 'none') {
  // The peers in the same run: the native build (examples/compare_bench.rs, CPU seconds) and numpy
  // (scripts/bench_compare_numpy.py, CPU seconds and wall), each on the same shapes.
  const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target');
  const lines = (cmd, argv) => {
    const out = spawnSync(cmd, argv, { cwd: root, encoding: 'utf8' });
    if (out.status !== 0) console.log(`[bench] ${cmd} failed: ${out.stderr}`);
    return (out.stdout ?? '').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  };
  for (const [r, c] of COMPARE_SHAPES) {
    for (const row of lines(join(target, 'release/examples/compare_bench'), [String(r), String(c)])) rows.push({ ...row, engine: 'quant-playground', op: 'compare-5-formats' });
  }
  for (const row of lines('python3', ['scripts/bench_compare_numpy.py', ...COMPARE_SHAPES.flat().map(String)])) rows.push({ ...row, engine: 'numpy', op: 'compare-5-formats' });
  printCompareReport(rows.filter(isCompare));
  printCompareTargets(rows.filter(isCompare));
}
// The pool of workers (bench/pool.mjs): the whole-model table of a ~90 MB model on 1 worker and on the
// pool, in the built page (dist/); --no-pool skips it; `node bench/pool.mjs` runs it alone.
if (!args.includes('--no-pool') && (!only || only === 'chromium')) {
  const { runPoolBench, printPoolReport } = await import('./pool.mjs');
  const pool = await runPoolBench({ samples: quick ? 3 : 7 });
  printPoolReport(pool);
  rows.push(...pool.rows);
  checks.push(...pool.checks);
}
if (jsonFile) {
  writeFileSync(jsonFile, JSON.stringify({ rows }, null, 1));
  console.log(`[bench] wrote ${jsonFile}`);
}
