// onnxruntime-web for the whole-model view: the engine people deploy ONNX models with. In the page, its
// single-threaded SIMD wasm build in the worker, fetched from this page's own origin (vite copies the
// .wasm into dist) the first time the view asks, never at page load. The Node scripts make the same
// runtime over onnxruntime-web's Node entry (scripts/ptq_table.mjs), so page and CLI run one engine.

/** ONNX protobuf is limited to 2 GiB, and the model, its quantized copy and the runtime share one 4 GiB wasm32 memory. */
export const MAX_MODEL_BYTES = 1024 * 2 ** 20;

/**
 * onnxruntime's message for an operator it has no kernel for, turned into one that names the op:
 * "Could not find an implementation for Foo(13) node with name 'bar'" (onnxruntime
 * core/framework/session_state.cc) → "… cannot run the op Foo (opset 13) of node 'bar' …".
 */
export function describeOrtError(modelName, error) {
  const text = String(error?.message ?? error);
  const missing = text.match(/implementation for ([\w.]+)\((\d+)\) node with name '([^']*)'/);
  if (missing) {
    const [, op, opset, node] = missing;
    return `${modelName}: onnxruntime-web cannot run the op ${op} (opset ${opset}) of node '${node}' in this build (wasm, CPU kernels). What was open stays open.`;
  }
  const unknown = text.match(/No Op registered for (\w+)/);
  if (unknown) return `${modelName}: onnxruntime-web does not know the op ${unknown[1]}. What was open stays open.`;
  return `${modelName}: onnxruntime-web could not run the model: ${text}`;
}

/**
 * The runtime the PTQ domain uses, over `load()` (a promise of the onnxruntime-web module, set up for one
 * thread): sessions whose errors name what cannot run, tensors, the version.
 */
export function ortRuntime(load) {
  let loading = null;
  const ort = () => {
    loading ??= load().catch((error) => {
      loading = null; // a failed load is tried again on the next call
      throw new Error(`onnxruntime-web could not be loaded: ${error.message}`);
    });
    return loading;
  };
  return {
    MAX_MODEL_BYTES,
    /** A session on `bytes`; `optimization` 'disabled' for calibration, as onnxruntime's calibrator runs. */
    async createSession(modelName, bytes, optimization = 'all') {
      if (bytes.length > MAX_MODEL_BYTES) {
        throw new Error(
          `${modelName}: ${(bytes.length / 2 ** 20).toFixed(0)} MiB is more than the ${MAX_MODEL_BYTES / 2 ** 20} MiB this page runs: onnxruntime-web, the model and its quantized copy share one 4 GiB wasm32 memory.`,
        );
      }
      const m = await ort();
      try {
        return await m.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: optimization });
      } catch (error) {
        throw new Error(describeOrtError(modelName, error));
      }
    },
    async tensor(type, data, dims) {
      const m = await ort();
      return new m.Tensor(type, data, dims);
    },
    async version() {
      const m = await ort();
      return m.env.versions?.web ?? '';
    },
  };
}

/** The page's: the bundled wasm build, its .wasm by URL from this origin, one thread, in this worker. */
export const browserRuntime = ortRuntime(async () => {
  const [ort, wasm] = await Promise.all([import('onnxruntime-web/wasm'), import('onnxruntime-web/ort-wasm-simd-threaded.wasm?url')]);
  ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed, and the build the Node runner uses
  ort.env.wasm.proxy = false; // already off the main thread
  ort.env.wasm.wasmPaths = { wasm: wasm.default };
  ort.env.logLevel = 'error';
  return ort;
});
