// Measuring the whole-model view's variants on the evaluation samples: each model run by onnxruntime-web
// one sample at a time, its chosen output compared with FP32's by the core (explore::output_error), top-1
// and nearest-neighbour agreement, accuracy against labels; and each quantized node's own output against
// FP32 (src/graph/node_errors.rs, the pairs onnxruntime's qdq_loss_debug compares).
import { feedsOf } from './ptq-inputs.js';

/**
 * Runs every evaluation sample through `bytes`: the chosen output of all rows, and the median ms per
 * inference. `open` is the domain's open model ({ name, output, evaluation }).
 */
export async function evaluate(runtime, open, job, label, bytes, { step = 0, steps = 1 } = {}) {
  const rows = open.evaluation;
  const session = await runtime.createSession(`${open.name} (${label})`, bytes);
  try {
    const parts = [];
    const times = [];
    for (let i = 0; i < rows.count; i++) {
      const feeds = await feedsOf(runtime.tensor, rows, i);
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

const argmax = (values, r, rowLength) => {
  let best = 0;
  for (let j = 1; j < rowLength; j++) if (values[r * rowLength + j] > values[r * rowLength + best]) best = j;
  return best;
};

/** The core's error metrics of `got` against FP32 (`open.fp32`), and the agreements the view shows. */
export async function compare(core, open, label, got, bytes) {
  const ref = open.fp32;
  const error = JSON.parse(await core.callWasm(`${open.name}: comparing ${label}`, (m) => m.output_error(ref.output, got.output)));
  const rows = open.evaluation.count;
  let agree = 0;
  let correct = 0;
  for (let r = 0; r < rows; r++) {
    const a = argmax(got.output, r, ref.rowLength);
    if (a === argmax(ref.output, r, ref.rowLength)) agree++;
    if (open.evaluation.labels && a === open.evaluation.labels[r]) correct++;
  }
  const neighbours = nearestNeighbours(got.output, ref.rowLength, rows);
  const refNeighbours = ref.neighbours;
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

/** FP32's accuracy against the evaluation labels; null without labels. */
export function fp32Accuracy(open) {
  const { labels, count } = open.evaluation;
  if (!labels) return null;
  let correct = 0;
  for (let r = 0; r < count; r++) if (argmax(open.fp32.output, r, open.fp32.rowLength) === labels[r]) correct++;
  return correct / count;
}

/**
 * Each node of `nodeOutputs` (the QDQ report's `node_outputs`: { node, op_type, output, read_as }): its
 * own output in the quantized model `quantizedBytes` against the FP32 model's, over every evaluation
 * sample, as onnxruntime's qdq_loss_debug pairs them (xmodel_err). Both models run with those tensors
 * exposed (src/graph expose) and unoptimised, as onnxruntime's calibrator runs, so the QDQ pairs are
 * computed as written; the sums stream in the core (no activation is kept).
 */
export async function nodeOutputErrors(core, runtime, open, job, label, quantizedBytes, nodeOutputs) {
  const { callWasm, free } = core;
  const expose = async (what, bytes, tensors) =>
    callWasm(`${open.name}: exposing ${what}`, (m) => {
      const made = m.ptq_expose(bytes, JSON.stringify({ tensors: [...new Set(tensors)] }));
      try {
        return made.model();
      } finally {
        made.free();
      }
    });
  const fp32Model = await expose('the FP32 node outputs', open.bytes, nodeOutputs.map((n) => n.output));
  const quantizedModel = await expose(`the node outputs of ${label}`, quantizedBytes, nodeOutputs.map((n) => n.read_as));
  const fp32 = await runtime.createSession(`${open.name} (FP32, node outputs exposed)`, fp32Model, 'disabled');
  let quantized = null;
  let errors = null;
  try {
    quantized = await runtime.createSession(`${open.name} (${label}, node outputs exposed)`, quantizedModel, 'disabled');
    errors = await callWasm('per-node errors', (m) => new m.PtqNodeErrors(JSON.stringify(nodeOutputs)));
    const rows = open.evaluation;
    const wantedFp32 = [...new Set(nodeOutputs.map((n) => n.output))];
    const wantedQuantized = [...new Set(nodeOutputs.map((n) => n.read_as))];
    for (let i = 0; i < rows.count; i++) {
      const feeds = await feedsOf(runtime.tensor, rows, i);
      const a = await fp32.run(feeds, wantedFp32);
      const b = await quantized.run(feeds, wantedQuantized);
      for (const [k, n] of nodeOutputs.entries()) {
        const reference = a[n.output].data;
        const got = b[n.read_as].data;
        if (!(reference instanceof Float32Array) || !(got instanceof Float32Array)) throw new Error(`${open.name}: node '${n.node}': its output '${n.output}' is not float32`);
        await callWasm(`per-node errors of '${n.node}'`, () => errors.add(k, reference, got));
      }
      await job.step(i + 1, rows.count, `each node's own output, ${label}: sample ${i + 1} of ${rows.count}`);
    }
    return JSON.parse(await callWasm('per-node errors', () => errors.rows()));
  } finally {
    free(errors);
    await quantized?.release();
    await fp32.release();
  }
}

/** For each row, the index of the most cosine-similar other row (a retrieval ranking's top hit); null for fewer than 3 rows. */
export function nearestNeighbours(values, rowLength, rows) {
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

/** The row label of a variant, the same in the table, the plot and the Download list. */
export function variantLabel(v) {
  if (v.kind === 'static') return `static INT8 ${v.method} per ${v.granularity ?? 'tensor'} (${v.activations ?? 'u8'} activations)${v.exclude?.length ? `, ${v.exclude.length} kept in FP32` : ''}`;
  if (v.kind === 'dynamic') return `dynamic INT8 per ${v.granularity ?? 'tensor'}`;
  if (v.kind === 'int4') return 'INT4 weight-only';
  return String(v.kind);
}
