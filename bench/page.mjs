// Runs the suite in the browser: the SIMD128 build, and the relaxed-SIMD build when this engine can
// compile it (the same feature test the page uses: compile the module, fall back on failure).
import * as ort from '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
const tf = window.tf;
const tfwasm = window.tf.wasm;
import { runCalib, runSuite } from './suite.mjs';
import { runCompare } from './compare.mjs';

async function loadBuild(name) {
  const mod = await import(`./pkg/${name}/quant_playground.js`);
  await mod.default({ module_or_path: `./pkg/${name}/quant_playground_bg.wasm` });
  return mod;
}

try {
  const params = new URLSearchParams(location.search);
  const opts = JSON.parse(params.get('opts') ?? '{}');
  const calib = params.get('calib') ?? 'both';
  const calibOpts = JSON.parse(params.get('calibOpts') ?? '{}');
  const compare = params.get('compare') ?? 'both';
  const compareOpts = JSON.parse(params.get('compareOpts') ?? '{}');
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  tfwasm.setThreadsCount(1);
  tfwasm.setWasmPaths('/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  await tf.setBackend('wasm');
  const ours = { simd128: await loadBuild('simd128') };
  try {
    ours.relaxed = await loadBuild('relaxed');
    if (ours.relaxed.kernel_build() !== 'relaxed-simd') delete ours.relaxed;
  } catch (e) {
    console.log(`[bench] relaxed-simd build not loaded here: ${e.message}`);
  }
  console.log(`[bench] chromium ${navigator.userAgent.match(/Chrom\w+\/[\d.]+/)?.[0]}: builds ${Object.keys(ours).join(', ')}, tfjs ${tf.getBackend()}`);
  const result = { rows: [], checks: [] };
  const add = (r) => (result.rows.push(...r.rows), result.checks.push(...r.checks));
  if (compare !== 'only' && calib !== 'only') add(await runSuite({ env: 'chromium', ours, ort, tf, ...opts }));
  if (compare !== 'only' && calib !== 'none') add(await runCalib({ env: 'chromium', mod: ours.simd128, ...calibOpts }));
  if (compare !== 'none') add({ rows: await runCompare({ env: 'chromium', mod: ours.simd128, ...compareOpts }), checks: [] });
  window.benchResult = result;
} catch (e) {
  console.log(`[bench] failed: ${e.stack}`);
  window.benchResult = { error: String(e) };
}
