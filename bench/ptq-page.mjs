// In Chromium: onnxruntime-web (wasm, one thread, the page's build) times one inference of each model the
// Node side lists in ?plan=, FP32 and quantized, on one real evaluation sample; the medians go to window.ptqResult.
import * as ort from '/node_modules/onnxruntime-web/dist/ort.wasm.min.mjs';
import { timeModels } from './ptq-time.mjs';

try {
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = '/node_modules/onnxruntime-web/dist/';
  const plan = JSON.parse(new URLSearchParams(location.search).get('plan'));
  const fetchBytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
  window.ptqResult = await timeModels(ort, plan, fetchBytes, 'chromium');
} catch (e) {
  console.log(`[bench] ptq failed: ${e.stack}`);
  window.ptqResult = { error: String(e) };
}
