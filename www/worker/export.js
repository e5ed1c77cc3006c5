// Export: a quantized file made here part by part and posted to the page (www/views/export), the source
// read one tensor's bytes at a time. With a pool of workers (www/app/bridge.js) each worker plans the same
// export (exportBegin) and encodes the tensors handed to it; the page writes the parts in order.

/** Rounds of "the plan needs these bytes" before giving up (formats/mod.rs MAX_ROUNDS). */
const EXPORT_MAX_ROUNDS = 4096;
/** The head of the source an export that copies the model's skeleton starts from. */
const HEAD_BYTES = 64 * 1024;

/** @param core the worker's core (www/worker/index.js) */
export default function exportDomain(core) {
  const { baseName, callWasm, free, files, joinPieces, readBytes, transfer } = core;

  /**
   * A file opened with `entry` that holds tensor bytes (a TF.js shard, ONNX external data): among the
   * entry's siblings (chosen together with it), else another open file of that name.
   */
  function siblingFile(entry, name, info) {
    const sibling = entry.siblings?.get(baseName(name)) ?? [...files.all()].find((e) => e.file.name === name)?.file;
    if (!sibling) throw new Error(`${entry.file.name}: tensor '${info.name}' is stored in ${name}; open that file together with this one`);
    return sibling;
  }

  /**
   * A tensor's stored bytes: one range of its own file or of the sibling its data_file names, or, for a
   * weight split across files (a TF.js weight crossing shards), each part the core's tensor_file_parts
   * names, read and joined in order (as the comparison's reader does, www/worker/index.js readSplit).
   */
  async function readSource(entry, session, info, i, context) {
    if (info.storage?.kind !== 'split') {
      const [offset, length] = await callWasm(context, () => session.stored_range(i));
      return readBytes(info.data_file ? siblingFile(entry, info.data_file, info) : entry.file, offset, length);
    }
    const parts = JSON.parse(await callWasm(context, (m) => m.tensor_file_parts(JSON.stringify(info))));
    const slices = parts.map(({ file, offset, len }) => {
      const source = file ? siblingFile(entry, file, info) : entry.file;
      if (offset + len > source.size) throw new Error(`${source.name}: tensor '${info.name}' needs bytes ${offset}–${offset + len} but the file is ${source.size} bytes (truncated?)`);
      return source.slice(offset, offset + len);
    });
    const joined = new Blob(slices);
    return readBytes(joined, 0, joined.size);
  }

  /**
   * The core's plan for the export. ONNX QDQ copies the model's skeleton and a GGUF-to-GGUF export its
   * key-values: both start from the head and ask for whatever ranges they name; the others plan from the index.
   */
  async function planExport(file, index, { target, spec, method, only }) {
    const fromHead = target === 'onnx-qdq' || (target.startsWith('gguf:') && index.format === 'gguf');
    const pieces = fromHead ? [{ offset: 0, bytes: await readBytes(file, 0, Math.min(file.size, HEAD_BYTES)) }] : [];
    const args = [JSON.stringify(index), target, JSON.stringify(spec), method, JSON.stringify(only)];
    for (let round = 0; round < EXPORT_MAX_ROUNDS; round++) {
      const session = await callWasm(`${file.name}: planning the export`, (m) => new m.ExportSession(...args, ...joinPieces(pieces)));
      const need = session.need_range();
      if (!need) return session;
      session.free();
      pieces.push({ offset: need[0], bytes: await readBytes(file, need[0], need[1]) });
    }
    throw new Error(`${file.name}: the export plan asked for more than ${EXPORT_MAX_ROUNDS} pieces of the file`);
  }

  /** Tensor `i` of the plan, encoded from its stored bytes (read here, from its own file or its siblings). */
  async function encodeSource(entry, session, info, i, context) {
    const stored = await readSource(entry, session, info, i, context);
    return callWasm(`${entry.file.name}: tensor '${info.name}'`, () => session.encode(i, stored));
  }

  const sessions = new Map(); // the pool's exports in progress here: key → { file, session, sources }
  core.onRestart(() => sessions.clear()); // a trapped instance took its sessions with it

  function pooled(key) {
    const entry = sessions.get(key);
    if (!entry) throw new Error(`the export was lost by this worker (its module was restarted); start the export again`);
    return entry;
  }

  return {
    /** The pool's export: this worker plans `request` for open file `id` under `key` (see exportFile). */
    async exportBegin(job, key, id, request) {
      const entry = files.get(id);
      const { file, index } = entry;
      const session = await planExport(file, index, request);
      try {
        const sources = JSON.parse(await callWasm(`${file.name}: export to ${request.target}`, () => session.sources()));
        sessions.set(key, { entry, session, sources, context: `${file.name}: export to ${request.target}` });
      } catch (error) {
        free(session);
        throw error;
      }
    },

    /** How many parts sit between the header and the trailer, and whose. */
    exportSources: (job, key) => {
      const { sources } = pooled(key);
      return { count: sources.length, names: sources.map((t) => t.name) };
    },

    exportHeader: async (job, key) => {
      const { session, context } = pooled(key);
      return transfer(await callWasm(context, () => session.header()));
    },

    /** Tensor `i` of the plan, encoded here. */
    async exportEncode(job, key, i) {
      const { entry, session, sources, context } = pooled(key);
      return transfer(await encodeSource(entry, session, sources[i], i, context));
    },

    exportTrailer: async (job, key) => {
      const { session, context } = pooled(key);
      return transfer(await callWasm(context, () => session.trailer()));
    },

    /** The report of this worker's session (its encoded tensors carry what encoding found). */
    exportReport: async (job, key) => {
      const { session, context } = pooled(key);
      return JSON.parse(await callWasm(context, () => session.report()));
    },

    exportEnd(job, key) {
      free(sessions.get(key)?.session);
      sessions.delete(key);
    },

    /**
     * Writes an export of an open file: `request` = { target (as the CLI's --to), spec, method, only (tensor
     * names, [] for all) }. Each part (header, one per tensor, trailer) goes to `sink(bytes)`, awaited, so
     * neither side holds more than the part in flight; a step after each tensor. Returns the CLI's
     * `export --json` report.
     */
    async exportFile(job, id, request, sink) {
      const entry = files.get(id);
      const { file, index } = entry;
      const context = `${file.name}: export to ${request.target}`;
      const session = await planExport(file, index, request);
      const send = (bytes) => sink(transfer(bytes));
      try {
        await send(await callWasm(context, () => session.header()));
        const sources = JSON.parse(await callWasm(context, () => session.sources()));
        for (let i = 0; i < sources.length; i++) {
          const info = sources[i];
          await send(await encodeSource(entry, session, info, i, context));
          await job.step(i + 1, sources.length, info.name);
        }
        await send(await callWasm(context, () => session.trailer()));
        return JSON.parse(await callWasm(context, () => session.report()));
      } finally {
        free(session);
      }
    },
  };
}
