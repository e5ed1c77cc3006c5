// The sweep behind the Pareto picture in pieces, for the pool of workers (www/app/fanout.js): the list of
// specs and formats for a tensor's shape cut into pieces (the core's sweep_pieces), one piece's rows, and the
// front. compare.js's `sweep` is the same pieces in one job; these let every worker take a share of it.
// A piece is one comparison stream (ComparisonJob) over its columns: a tensor too large to read whole is
// read in chunks of rows (chunks.js), each chunk fed to every column of the piece, so memory holds a chunk
// and the piece's per-slot parameters, whatever the tensor's size.
import { tensorChunks } from './chunks.js';

/**
 * What the sweep of a tensor covers and how it is cut: { specs, formats: [{ label, family }], pieces:
 * [{ specs: [index], formats: [index] }] }, pieces cut for a tensor read in chunks when `streamed`.
 */
export async function planSweep(callWasm, context, info, streamed) {
  const shapeJson = JSON.stringify(info.shape);
  const specs = JSON.parse(await callWasm(context, (m) => m.sweep_specs(shapeJson)));
  const formats = JSON.parse(await callWasm(context, (m) => m.sweep_formats(shapeJson)));
  const pieces = JSON.parse(await callWasm(context, (m) => m.sweep_pieces(shapeJson, JSON.stringify(specs), formats.length, streamed)));
  return { specs, formats, pieces };
}

/** The rows of a swept tensor in the plan's order (specs, then formats) from the pieces' answers. */
export function sweepRows({ specs, pieces }, answers) {
  const rows = [];
  pieces.forEach((piece, p) => {
    piece.specs.forEach((s, k) => { rows[s] = answers[p][k]; });
    piece.formats.forEach((f, k) => { rows[specs.length + f] = answers[p][piece.specs.length + k]; });
  });
  return rows;
}

/**
 * One piece's rows (its specs', then its formats' tagged with their family) from one comparison stream:
 * with `plan` (chunks.js chunking) a range read and a measuring read of every chunk, `job.step` after each
 * (progress within the piece, and Cancel); without, the whole tensor's bytes fed as one chunk.
 */
export async function pieceRows(core, chunks, job, tensor, plan, { specs, formats }) {
  const { callWasm, free, tensorBytes } = core;
  const { info, context } = tensor;
  const infoJson = JSON.stringify(info);
  const columnsJson = JSON.stringify([...specs, ...formats.map((f) => f.label)]);
  let stream = null;
  try {
    stream = await callWasm(context, (m) => m.ComparisonJob.of_columns(infoJson, columnsJson));
    if (plan) {
      const passes = (await callWasm(context, () => stream.needs_range_pass())) ? ['range', 'measure'] : ['measure'];
      for (const [p, pass] of passes.entries()) {
        const feed = (bytes) => callWasm(context, () => (pass === 'range' ? stream.feed_range(bytes) : stream.feed(bytes)));
        await chunks.eachChunk(job, plan, feed, { done: p * plan.chunks, total: passes.length * plan.chunks, detail: `sweep, ${pass === 'range' ? 'ranges' : 'measuring'}: ` });
        if (pass === 'range') await callWasm(context, () => stream.end_range_pass());
      }
    } else {
      const { bytes, hint } = await tensorBytes(tensor.id, tensor.name);
      await callWasm(context, () => stream.feed_whole(bytes), hint);
    }
    const json = await callWasm(context, () => stream.finish());
    stream = null; // finish took it
    const rows = JSON.parse(json);
    formats.forEach(({ family }, k) => { rows[specs.length + k].family = family; });
    return rows;
  } finally {
    free(stream);
  }
}

/** @param core the worker's core (www/worker/index.js) */
export default function sweepDomain(core) {
  const { callWasm } = core;
  const chunks = tensorChunks(core);

  /** The tensor with its id and name (pieceRows reads its bytes whole through them). */
  const source = (id, tensorName) => ({ ...chunks.tensorSource(id, tensorName), id, name: tensorName });

  return {
    /** What the sweep of this tensor covers and its pieces: planSweep's answer. */
    async sweepPlan(job, id, tensorName) {
      const tensor = source(id, tensorName);
      return planSweep(callWasm, tensor.context, tensor.info, (await chunks.chunking(tensor)) !== null);
    },

    /**
     * One piece of the sweep: the rows of `specs` and `formats` (each tagged with its family). A tensor read
     * whole stays cached here for the next piece; a larger one is read in chunks by each piece.
     */
    async sweepPiece(job, id, tensorName, { specs = [], formats = [] }) {
      const tensor = source(id, tensorName);
      return pieceRows(core, chunks, job, tensor, await chunks.chunking(tensor), { specs, formats });
    },

    /** Which of the points ([bits_per_weight, sqnr_db]) are on the Pareto front. */
    paretoFront: async (job, points) => JSON.parse(await callWasm('the Pareto front', (m) => m.pareto_front(JSON.stringify(points)))),
  };
}
