// The whole-model view's inputs: dropped .npy / .npz arrays read by the core's own readers
// (src/formats/npy.rs, npz.rs), checked against the model's inputs and cut into one-sample feeds for
// onnxruntime-web (the CLI's --calib-data convention: the first axis indexes samples).

/** The core's dtype labels (src/tensor.rs DType::name) as typed arrays over little-endian, row-major bytes. */
const ARRAYS = {
  F32: Float32Array,
  F64: Float64Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/** What a model input of onnxruntime-web type `type` can be fed from: the same dtype, or a lossless widening. */
const FEEDABLE = {
  float32: { F32: (a) => a, F64: (a) => Float32Array.from(a) }, // numpy's default float64, rounded as the model computes in f32
  int64: { I64: (a) => a, I32: (a) => BigInt64Array.from(a, BigInt), I16: (a) => BigInt64Array.from(a, BigInt), I8: (a) => BigInt64Array.from(a, BigInt), U8: (a) => BigInt64Array.from(a, BigInt) },
  int32: { I32: (a) => a, I16: (a) => Int32Array.from(a), I8: (a) => Int32Array.from(a), U8: (a) => Int32Array.from(a) },
  uint8: { U8: (a) => a },
  int8: { I8: (a) => a },
  bool: { BOOL: (a) => a, U8: (a) => a },
};

/** The arrays of a dropped .npy / .npz, keyed by array name (a .npy by its file name). */
export async function readArrays(core, file) {
  const { callWasm, readIndex, readStored } = core;
  const index = await readIndex(file);
  const arrays = {};
  for (const info of index.tensors) {
    const context = `${file.name}: array '${info.name}'`;
    const Typed = ARRAYS[info.dtype];
    if (!Typed) throw new Error(`${context}: dtype ${info.dtype} cannot be a model input here (${Object.keys(ARRAYS).join(', ')} can)`);
    const bytes = await readStored(file, info, context);
    const elements = await callWasm(context, (m) => m.tensor_element_bytes(JSON.stringify(info), bytes));
    const values = new Typed(elements.buffer, elements.byteOffset, elements.byteLength / Typed.BYTES_PER_ELEMENT);
    const key = file.name.endsWith('.npy') ? file.name.replace(/\.npy$/, '') : info.name;
    arrays[key] = { dims: info.shape, dtype: info.dtype, values };
  }
  return arrays;
}

/**
 * Rows of model inputs (`inputs`: [{ name, type }]) from arrays keyed by input name, the first axis
 * indexing samples; `label`, when present, holds one class per sample.
 */
export function rowsOf(inputs, arrays, what) {
  const missing = inputs.filter((i) => !arrays[i.name]);
  if (missing.length) {
    throw new Error(`${what}: no array named ${missing.map((i) => `'${i.name}'`).join(', ')} (the model's inputs; arrays found: ${Object.keys(arrays).join(', ') || 'none'})`);
  }
  const count = arrays[inputs[0].name].dims[0];
  const feeds = {};
  for (const input of inputs) {
    const array = arrays[input.name];
    const where = `${what}: '${input.name}'`;
    if (array.dims[0] !== count) throw new Error(`${where} has ${array.dims[0]} samples on its first axis, '${inputs[0].name}' has ${count}`);
    const convert = FEEDABLE[input.type]?.[array.dtype];
    if (!convert) throw new Error(`${where} is ${array.dtype}; the model takes ${input.type}, fed from ${Object.keys(FEEDABLE[input.type] ?? {}).join(' or ') || 'no array type the page reads'}`);
    feeds[input.name] = { type: input.type, dims: [1, ...array.dims.slice(1)], data: convert(array.values) };
  }
  let labels = null;
  if (arrays.label) {
    if (arrays.label.values.length !== count) throw new Error(`${what}: 'label' has ${arrays.label.values.length} values for ${count} samples`);
    labels = Array.from(arrays.label.values, Number);
  }
  return { count, feeds, labels };
}

/** The onnxruntime-web feeds of sample `i` ([1, …] each); `tensor` is the runtime's constructor (www/worker/ort.js). */
export async function feedsOf(tensor, rows, i) {
  const out = {};
  for (const [name, f] of Object.entries(rows.feeds)) {
    const size = f.dims.reduce((a, b) => a * b, 1);
    out[name] = await tensor(f.type, f.data.subarray(i * size, (i + 1) * size), f.dims);
  }
  return out;
}

/** onnxruntime-web reports a free dimension as its name, or as -1 read unsigned (2^32 − 1): both are shown as names. */
export function symbolicDims(shape = []) {
  return shape.map((d) => (typeof d === 'number' && d >= 2 ** 31 ? '?' : d));
}
