// Reading one tensor in chunks of whole rows (Blob.slice), for the passes the core streams (the
// comparison, a weight's calibration): memory holds a chunk, not the tensor. The rule for which
// tensors can be read so is the core's (formats::row_reads); a tensor up to CHUNK_BYTES is one chunk.

/**
 * Source bytes per read (whole rows; a tensor up to this size is read whole, as one chunk). With a
 * chunk, its f32 values and a column's scratch, the module's memory stays near 100 MiB whatever the
 * tensor's size.
 */
export const CHUNK_BYTES = 16 * 2 ** 20;

/**
 * Above this f32 size a tensor is not read whole for the passes that do not stream yet (the pictures,
 * the sweep): its bytes, its f32 values and their scratch would not fit in a wasm32 module's 4 GiB.
 */
export const WHOLE_F32_LIMIT = 2 ** 30;

const f32Bytes = (info) => info.shape.reduce((a, b) => a * b, 1) * 4;

/** Whether a tensor may be read whole (WHOLE_F32_LIMIT). */
export const fitsWhole = (info) => f32Bytes(info) <= WHOLE_F32_LIMIT;

/** @param core the worker's core (www/worker/index.js) */
export function tensorChunks(core) {
  const { callWasm, files, baseName, readBytes } = core;

  /**
   * A tensor of an open file without its bytes: { info, source (the File holding them), context }
   * (tensorBytes reads the whole tensor; a streamed pass reads its own chunks).
   */
  function tensorSource(id, tensorName) {
    const { file, name, index, siblings } = files.get(id);
    const info = index.tensors.find((t) => t.name === tensorName);
    if (!info) throw new Error(`${name}: no tensor named '${tensorName}'`);
    const source = info.data_file ? siblings?.get(baseName(info.data_file)) : file;
    if (!source) throw new Error(`${name}: tensor '${tensorName}' is stored in ${info.data_file}, which was not opened with it`);
    return { info, source, context: `${name}: tensor '${tensorName}'` };
  }

  /**
   * How a tensor is read in chunks: { offset, rowBytes, rows, chunkRows, chunks, read(k) → bytes of
   * chunk k }, or null when it is read whole (one chunk's size or less, or stored bytes the core must
   * decode at once: deflated, varint-packed, Fortran order).
   */
  async function chunking({ info, source, context }) {
    const infoJson = JSON.stringify(info);
    const [[offset, length], reads] = await callWasm(context, (m) => [m.tensor_stored_range(infoJson), m.tensor_row_reads(infoJson)]);
    if (length <= CHUNK_BYTES || reads.length === 0 || reads[1] > CHUNK_BYTES) return null;
    if (offset + length > source.size) {
      throw new Error(`${source.name}: tensor '${info.name}' needs bytes ${offset}–${offset + length} but the file is ${source.size} bytes (truncated?)`);
    }
    const [rows, rowBytes] = reads;
    const chunkRows = Math.max(1, Math.floor(CHUNK_BYTES / rowBytes));
    const read = (k) => {
      const first = k * chunkRows;
      return readBytes(source, offset + first * rowBytes, Math.min(chunkRows, rows - first) * rowBytes);
    };
    return { offset, rowBytes, rows, chunkRows, chunks: Math.ceil(rows / chunkRows), read };
  }

  /**
   * Calls `fn(bytes, k)` for every chunk of `plan` in order, reading the next chunk while the module
   * works on this one; then `job.step` (progress `done + k + 1` of `total`, and Cancel).
   */
  async function eachChunk(job, plan, fn, { done = 0, total = plan.chunks, detail = '' } = {}) {
    let next = plan.read(0);
    for (let k = 0; k < plan.chunks; k++) {
      const bytes = await next;
      if (k + 1 < plan.chunks) next = plan.read(k + 1);
      await fn(bytes, k);
      await job.step(done + k + 1, total, `${detail}rows ${Math.min(plan.rows, (k + 1) * plan.chunkRows)} of ${plan.rows}`);
    }
  }

  /** Throws, with what to do, when `what` would read a tensor whole that does not fit. */
  function refuseWhole({ info, context }, what) {
    if (!fitsWhole(info)) {
      throw new Error(`${context}: ${what} read the whole tensor, and it needs ${(f32Bytes(info) / 2 ** 30).toFixed(1)} GiB as f32 (more than a wasm32 module can hold beside its bytes); its comparison (min-max) and calibration are read in chunks`);
    }
  }

  return { tensorSource, chunking, eachChunk, refuseWhole, fitsWhole };
}
