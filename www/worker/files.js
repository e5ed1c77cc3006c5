// Opening files: a file's index from its header bytes (the core's piece protocol), and files chosen or
// dropped together grouped into models (shards with their index, an .onnx with its external data).
import { openTfjsModels } from './tfjs.js';

/** @param core the worker's core (www/worker/index.js) */
export default function filesDomain(core) {
  const { callWasm, readBytes, readIndex, baseName, files, WasmStopped } = core;

  /** Hugging Face's shard names: model-00001-of-00003.safetensors → { stem: 'model', part: 1, total: 3 }. */
  function shardName(name) {
    const match = /^(.*)-(\d+)-of-(\d+)\.safetensors$/.exec(name);
    return match ? { stem: match[1], part: Number(match[2]), total: Number(match[3]), of: match[3] } : null;
  }

  /**
   * Several files dropped or chosen at once become models: model.safetensors.index.json with the shards it
   * names; complete sets of NAME-0000i-of-0000N.safetensors shards without an index; a file with its
   * external data (ONNX: TensorInfo.data_file names the sibling). Every other file opens on its own. The
   * format of each is chosen by its content (the core sniffs). Returns { opened: [{ id, name, size,
   * lastModified, members, index }], errors: [{ file, message }] }: one file's failure never stops the others.
   */
  async function openBatch(list) {
    const parsed = new Map(); // name → { file, index } or { file, error }
    for (const file of list) {
      try {
        parsed.set(file.name, { file, index: await readIndex(file) });
      } catch (error) {
        if (error instanceof WasmStopped) throw error;
        parsed.set(file.name, { file, error });
      }
    }
    const consumed = new Set(); // names taken as parts of another file's model
    const models = []; // { name, file, index, siblings: Map(name → File), members }
    const errors = [];
    const fail = (file, message) => errors.push({ file, message: message.startsWith(`${file}:`) ? message : `${file}: ${message}` });
    const partError = (part) => (parsed.get(part).error?.message ?? String(parsed.get(part).error));

    // 1. An index JSON and the shards it names.
    for (const [name, p] of parsed) {
      if (p.index?.format !== 'safetensors-index') continue;
      const shards = p.index.metadata.filter(([k]) => k === 'shard').map(([, v]) => baseName(v));
      shards.forEach((s) => consumed.add(s));
      consumed.add(name);
      const missing = shards.filter((s) => !parsed.has(s));
      if (missing.length) {
        fail(name, `the weight map names ${missing.length === 1 ? 'a shard' : 'shards'} that ${missing.length === 1 ? 'was' : 'were'} not opened with it: ${missing.join(', ')}. Open the index and ${shards.length === 2 ? 'both' : `all ${shards.length}`} shards together.`);
        continue;
      }
      const broken = shards.find((s) => parsed.get(s).error);
      if (broken) {
        fail(name, `shard ${partError(broken)}`);
        continue;
      }
      try {
        const mapBytes = await readBytes(p.file, 0, p.file.size);
        const shardIndexes = JSON.stringify(shards.map((s) => parsed.get(s).index));
        const index = JSON.parse(await callWasm(`${name}: merging its shards`, (m) => m.merge_shards(name, mapBytes, shardIndexes)));
        models.push({ name, file: p.file, index, siblings: new Map(shards.map((s) => [s, parsed.get(s).file])), members: [name, ...shards] });
      } catch (error) {
        if (error instanceof WasmStopped) throw error;
        fail(name, error.message);
      }
    }

    // 1b. A TF.js model.json / weights manifest and the .bin shards it names (www/worker/tfjs.js).
    await openTfjsModels({ parsed, consumed, models, fail, readBytes, callWasm, baseName, WasmStopped });

    // 2. A complete set of shards without an index; an incomplete set opens shard by shard.
    const sets = new Map();
    for (const [name, p] of parsed) {
      const shard = shardName(name);
      if (!shard || consumed.has(name) || shard.total < 2 || p.index?.format === 'safetensors-index') continue;
      const key = `${shard.stem}-of-${shard.total}`;
      if (!sets.has(key)) sets.set(key, { ...shard, names: [] });
      sets.get(key).names.push(name);
    }
    for (const set of sets.values()) {
      const parts = new Set(set.names.map((n) => shardName(n).part));
      const complete = parts.size === set.total && [...parts].every((i) => i >= 1 && i <= set.total);
      if (!complete) continue;
      set.names.sort((a, b) => shardName(a).part - shardName(b).part);
      set.names.forEach((n) => consumed.add(n));
      const label = `${set.stem}-*-of-${set.of}.safetensors`; // one name for the set, as a shell glob would
      const broken = set.names.find((n) => parsed.get(n).error);
      if (broken) {
        fail(label, `shard ${partError(broken)}`);
        continue;
      }
      try {
        const shardIndexes = JSON.stringify(set.names.map((n) => parsed.get(n).index));
        const index = JSON.parse(await callWasm(`${label}: merging its shards`, (m) => m.merge_shards(label, new Uint8Array(), shardIndexes)));
        const siblings = new Map(set.names.map((n) => [n, parsed.get(n).file]));
        const newest = set.names.map((n) => parsed.get(n).file).reduce((a, b) => (a.lastModified >= b.lastModified ? a : b));
        models.push({ name: label, file: newest, index, siblings, members: set.names, size: index.file_len });
      } catch (error) {
        if (error instanceof WasmStopped) throw error;
        fail(label, error.message);
      }
    }

    // 3. Files whose tensors live in sibling files (ONNX external data), and files on their own.
    for (const [name, p] of parsed) {
      if (consumed.has(name) || !p.index) continue;
      const wanted = [...new Set(p.index.tensors.map((t) => t.data_file).filter(Boolean).map(baseName))];
      wanted.forEach((w) => consumed.add(w));
      const missing = wanted.filter((w) => !parsed.has(w));
      if (missing.length) {
        fail(name, `its tensor data is stored in ${missing.join(', ')}, which ${missing.length === 1 ? 'was' : 'were'} not opened with it. Open ${name} and ${missing.join(', ')} together (select both, or drop both at once).`);
        continue;
      }
      models.push({ name, file: p.file, index: p.index, siblings: new Map(wanted.map((w) => [w, parsed.get(w).file])), members: [name, ...wanted] });
    }
    for (const [name, p] of parsed) {
      if (p.error && !consumed.has(name)) fail(name, p.error.message ?? String(p.error));
    }
    const opened = models.map((m) => {
      const id = files.add({ file: m.file, name: m.name, index: m.index, siblings: m.siblings });
      const size = m.size ?? m.members.reduce((total, n) => total + (parsed.get(n)?.file.size ?? 0), 0);
      return { id, name: m.name, size, lastModified: m.file.lastModified, members: m.members, index: m.index };
    });
    return { opened, errors };
  }

  return {
    /** Opens files chosen or dropped together (shards, a model and its external data): see openBatch. */
    openFiles: (job, list) => openBatch(list),

    close(job, id) {
      files.close(id);
    },
  };
}
