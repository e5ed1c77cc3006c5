// Theirs against ours: a float model and its quantized copy, both open files, compared tensor by tensor
// by the core (src/app/theirs.rs through src/wasm/theirs.rs) in the steps the CLI's `diff` runs: pairs by
// name, the fingerprints of what is left, then each pair measured; one tensor's bytes read at a time.

/** @param core the worker's core (www/worker/index.js) */
export default function theirsDomain(core) {
  const { callWasm, free, files, tensorBytes } = core;

  return {
    /**
     * The CLI's `diff FLOAT QUANTIZED --json` document for two open files. A step after each tensor read;
     * a cancelled run hands back the report of the pairs measured so far.
     */
    async diffFiles(job, floatId, quantizedId) {
      const float = files.get(floatId);
      const quantized = files.get(quantizedId);
      const context = `${quantized.name} against ${float.name}`;
      const session = await callWasm(context, (m) => new m.TheirsSession(JSON.stringify(float.index), JSON.stringify(quantized.index)));
      try {
        const candidates = JSON.parse(await callWasm(context, () => session.fingerprint_candidates()));
        const prints = [...candidates.float.map((name) => [true, floatId, name]), ...candidates.quantized.map((name) => [false, quantizedId, name])];
        let done = 0;
        for (const [isFloat, id, name] of prints) {
          const { bytes, hint, context: where } = await tensorBytes(id, name, { cache: false });
          await callWasm(`${where}: fingerprint`, () => session.add_fingerprint(isFloat, name, bytes), hint);
          await job.step(++done, prints.length, `fingerprint of ${name}`);
        }
        const pairs = JSON.parse(await callWasm(context, () => session.match_fingerprints()));
        for (let i = 0; i < pairs.length; i++) {
          const a = await tensorBytes(floatId, pairs[i].float, { cache: false });
          const b = await tensorBytes(quantizedId, pairs[i].quantized, { cache: false });
          await callWasm(`${b.context} against ${a.context}`, () => session.measure(i, a.bytes, b.bytes), a.hint || b.hint);
          job.partial = JSON.parse(await callWasm(context, () => session.report()));
          await job.step(i + 1, pairs.length, pairs[i].float);
        }
        return JSON.parse(await callWasm(context, () => session.report()));
      } finally {
        free(session);
      }
    },
  };
}
