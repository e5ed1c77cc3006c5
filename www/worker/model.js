// The whole model: one spec and calibration method over the named tensors of an open file, each read
// lazily and quantized in its own call, a step after each.

/** @param core the worker's core (www/worker/index.js) */
export default function modelDomain(core) {
  const { callWasm, files, tensorBytes } = core;

  return {
    /**
     * All quantizable tensors when `names` is empty, each under `spec` with `method`'s ranges, or under
     * the format `label` (FP8, MX, NVFP4, NF4, a ggml type) when one is given. Returns the CLI's
     * `quantize --json` (`--type LABEL`) document; a cancelled run hands the tensors done so far back as
     * its partial document.
     */
    async runModel(job, id, names, spec, method, label = null) {
      const { name, index } = files.get(id);
      const chosen = names.length ? names.map((n) => index.tensors.find((t) => t.name === n)).filter(Boolean) : index.tensors.filter((t) => t.quantizable);
      const skipped = names.length ? [] : index.tensors.filter((t) => !t.quantizable).map((t) => ({ name: t.name, dtype: t.dtype, reason: 'not a float tensor' }));
      const specJson = JSON.stringify(spec);
      const document = { file: name, format: index.format, tensors: [], skipped };
      job.partial = document;
      for (const info of chosen) {
        const { bytes, hint, context } = await tensorBytes(id, info.name, { cache: false });
        const row = await callWasm(context, (m) => {
          const started = performance.now();
          const json = label
            ? m.format_tensor(JSON.stringify(info), bytes, label)
            : m.quantize_tensor_calibrated(JSON.stringify(info), bytes, specJson, method);
          return { ...JSON.parse(json), time_ms: performance.now() - started };
        }, hint);
        document.tensors.push(row);
        await job.step(document.tensors.length, chosen.length, info.name);
      }
      return document;
    },
  };
}
