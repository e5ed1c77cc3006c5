// onnxruntime-web in Node, the same engine and wasm build the page runs (single-threaded SIMD), as a
// process that the CLI and the tests talk to over stdin/stdout. It loads one model once and then answers
// run requests until stdin closes, so calibration streams batch after batch without reloading the model.
//
// Usage: node scripts/ort_runner.mjs [--optimization disabled|basic|all] MODEL.onnx
// Graph optimizations are off by default, as onnxruntime's calibrator runs the augmented model
// (onnxruntime quantization/calibrate.py, CalibraterBase.create_inference_session: ORT_DISABLE_ALL), so
// the activations it collects are the unfused graph's.
// Frame (both ways): u32 little-endian length of a JSON header, the header, then the tensors' bytes back
// to back in the header's order (little-endian, row-major).
//   request  {"inputs":[{"name","dtype","shape"}...], "outputs":["name"...]}      (outputs [] = all)
//   response {"outputs":[{"name","dtype","shape"}...], "ms": inference time}  or  {"error": "message"}
// The first frame the runner writes, before any request, describes the model:
//   {"inputs":[names], "outputs":[names], "ort": version}  or  {"error": "message"} (then it exits 1).
// dtype is one of float32, float16, int64, int32, int8, uint8, bool.
import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-web';

const ARRAYS = {
  float32: Float32Array,
  float16: Uint16Array,
  int64: BigInt64Array,
  int32: Int32Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

function frame(header, buffers = []) {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(json.length);
  return Buffer.concat([length, json, ...buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))]);
}

// Reads frames off stdin: a header, then as many bytes as its tensors' shapes and dtypes say.
async function* requests(stream) {
  let pending = Buffer.alloc(0);
  let need = null;
  for await (const chunk of stream) {
    pending = Buffer.concat([pending, chunk]);
    for (;;) {
      if (need === null) {
        if (pending.length < 4) break;
        const headerLength = pending.readUInt32LE(0);
        if (pending.length < 4 + headerLength) break;
        const header = JSON.parse(pending.subarray(4, 4 + headerLength).toString('utf8'));
        const sizes = (header.inputs ?? []).map((t) => {
          const Array = ARRAYS[t.dtype];
          if (!Array) throw new Error(`input ${t.name}: dtype ${t.dtype} is not one of ${Object.keys(ARRAYS).join(', ')}`);
          return t.shape.reduce((a, b) => a * b, 1) * Array.BYTES_PER_ELEMENT;
        });
        need = { header, sizes, total: sizes.reduce((a, b) => a + b, 0) };
        pending = pending.subarray(4 + headerLength);
      }
      if (pending.length < need.total) break;
      const body = Buffer.from(pending.subarray(0, need.total));
      pending = pending.subarray(need.total);
      yield { ...need, body };
      need = null;
    }
  }
}

function feeds({ header, sizes, body }) {
  const out = {};
  let offset = 0;
  header.inputs.forEach((t, i) => {
    const Array = ARRAYS[t.dtype];
    const bytes = body.subarray(offset, offset + sizes[i]);
    offset += sizes[i];
    const data = new Array(bytes.buffer, bytes.byteOffset, sizes[i] / Array.BYTES_PER_ELEMENT);
    out[t.name] = new ort.Tensor(t.dtype, data, t.shape);
  });
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  const at = args.indexOf('--optimization');
  const optimization = at >= 0 ? args.splice(at, 2)[1] : 'disabled';
  const path = args[args.length - 1];
  if (!path || !['disabled', 'basic', 'extended', 'all'].includes(optimization)) {
    process.stdout.write(frame({ error: 'usage: node scripts/ort_runner.mjs [--optimization disabled|basic|extended|all] MODEL.onnx' }));
    process.exit(1);
  }
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  let session;
  try {
    session = await ort.InferenceSession.create(await readFile(path), { executionProviders: ['wasm'], graphOptimizationLevel: optimization });
  } catch (err) {
    process.stdout.write(frame({ error: `${path}: onnxruntime-web cannot load this model: ${err.message}` }));
    process.exit(1);
  }
  process.stdout.write(frame({ inputs: session.inputNames, outputs: session.outputNames, ort: ort.env.versions?.web ?? '' }));
  try {
    for await (const request of requests(process.stdin)) {
      try {
        const names = request.header.outputs?.length ? request.header.outputs : session.outputNames;
        const started = performance.now();
        const results = await session.run(feeds(request), names);
        const ms = performance.now() - started;
        const tensors = names.map((name) => results[name]);
        process.stdout.write(
          frame(
            { outputs: tensors.map((t, i) => ({ name: names[i], dtype: t.type, shape: t.dims })), ms },
            tensors.map((t) => t.data),
          ),
        );
      } catch (err) {
        process.stdout.write(frame({ error: err.message }));
      }
    }
  } catch (err) {
    process.stdout.write(frame({ error: `malformed request: ${err.message}` }));
    process.exit(1);
  }
}

main();
