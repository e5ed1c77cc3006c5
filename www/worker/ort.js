// onnxruntime-web in the worker: the engine people deploy ONNX models with, here its single-threaded SIMD
// wasm build, fetched from this page's own origin (vite copies the .wasm into dist). Loaded the first time
// the whole-model view asks for it, never at page load.

/** ONNX protobuf is limited to 2 GiB, and the model, its quantized copy and the runtime share one 4 GiB wasm32 memory. */
export const MAX_MODEL_BYTES = 1024 * 2 ** 20;

let loading = null;

/** The onnxruntime-web module, loaded once (a failed load is retried on the next call). */
export function loadOrt() {
  loading ??= Promise.all([import('onnxruntime-web/wasm'), import('onnxruntime-web/ort-wasm-simd-threaded.wasm?url')])
    .then(([ort, wasm]) => {
      ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed, and the same build as the Node runner
      ort.env.wasm.proxy = false; // already off the main thread
      ort.env.wasm.wasmPaths = { wasm: wasm.default };
      ort.env.logLevel = 'error';
      return ort;
    })
    .catch((error) => {
      loading = null;
      throw new Error(`onnxruntime-web could not be loaded: ${error.message}`);
    });
  return loading;
}

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
    return `${modelName}: onnxruntime-web cannot run the op ${op} (opset ${opset}) of node '${node}' in this build (wasm, CPU kernels). Nothing else was changed; the model stays open.`;
  }
  const unknown = text.match(/Unrecognized attribute|No Op registered for (\w+)/);
  if (unknown?.[1]) return `${modelName}: onnxruntime-web does not know the op ${unknown[1]}. Nothing else was changed; the model stays open.`;
  return `${modelName}: onnxruntime-web could not run the model: ${text}`;
}

/** A session on `bytes` (copied into onnxruntime's memory), with the error naming what it cannot run. */
export async function createSession(modelName, bytes) {
  if (bytes.length > MAX_MODEL_BYTES) {
    throw new Error(
      `${modelName}: ${(bytes.length / 2 ** 20).toFixed(0)} MiB is more than the ${MAX_MODEL_BYTES / 2 ** 20} MiB this page runs: onnxruntime-web, the model and its quantized copy share one 4 GiB wasm32 memory.`,
    );
  }
  const ort = await loadOrt();
  try {
    return await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  } catch (error) {
    throw new Error(describeOrtError(modelName, error));
  }
}

/** The onnxruntime-web tensor of element type `type` ('float32', 'int64', …) holding `data` (a typed array) as `dims`. */
export async function tensor(type, data, dims) {
  const ort = await loadOrt();
  return new ort.Tensor(type, data, dims);
}

export async function ortVersion() {
  const ort = await loadOrt();
  return ort.env.versions?.web ?? '';
}
