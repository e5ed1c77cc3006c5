// TF.js models among files opened together: a model.json (or *weights_manifest.json) and the .bin shards
// its weightsManifest names. The manifest alone does not say where its shards are cut, so the core reads
// it first (format 'tfjs-manifest', the shards as "shard" metadata), then places every weight once the
// shards' lengths are known (tfjs_locate, src/formats/tfjs.rs). A weight that crosses from one shard
// into the next is read as its parts (TensorInfo.storage "split"; www/worker/index.js readStored).

/**
 * Adds a model for every TF.js manifest in `parsed` (name → { file, index } or { file, error }) to
 * `models`, marks it and its shards in `consumed` (a shard is no file format of its own: its parse error
 * is not shown), and reports a missing shard by name with `fail(name, message)`.
 */
export async function openTfjsModels({ parsed, consumed, models, fail, readBytes, callWasm, baseName, WasmStopped }) {
  for (const [name, p] of parsed) {
    if (p.index?.format !== 'tfjs-manifest') continue;
    const shards = p.index.metadata.filter(([k]) => k === 'shard').map(([, v]) => v);
    consumed.add(name);
    shards.forEach((s) => consumed.add(baseName(s)));
    const missing = shards.filter((s) => !parsed.has(baseName(s)));
    if (missing.length) {
      fail(name, `its weights manifest names ${missing.length === 1 ? 'a shard' : 'shards'} not opened with it: ${missing.join(', ')}. Open ${name} and its ${shards.length === 1 ? 'shard' : `${shards.length} shards`} together.`);
      continue;
    }
    try {
      const manifestBytes = await readBytes(p.file, 0, p.file.size);
      const lengths = JSON.stringify(Object.fromEntries(shards.map((s) => [s, parsed.get(baseName(s)).file.size])));
      const index = JSON.parse(await callWasm(`${name}: placing its weights in its shards`, (m) => m.tfjs_locate(name, manifestBytes, lengths)));
      const siblings = new Map(shards.map((s) => [baseName(s), parsed.get(baseName(s)).file]));
      models.push({ name, file: p.file, index, siblings, members: [name, ...shards.map(baseName)] });
    } catch (error) {
      if (error instanceof WasmStopped) throw error;
      fail(name, error.message);
    }
  }
}
