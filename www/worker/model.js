// The whole model: one spec and calibration method (or one format label) over the tensors of an open
// file. The page asks for one tensor per call (modelTensor) and spreads the calls over the pool of workers
// (www/app/bridge.js runEach); each worker reads that tensor's bytes from its own copy of the File.

/** @param core the worker's core (www/worker/index.js) */
export default function modelDomain(core) {
  const { callWasm, files, tensorBytes } = core;

  return {
    /**
     * One row of the CLI's `quantize --json` (`--type LABEL` when `label` is given: FP8, MX, NVFP4, NF4, a
     * ggml type; else `spec` with `method`'s ranges) for tensor `tensorName` of open file `id`, with
     * time_ms: how long its call into the module took here, and read_ms: how long reading its bytes from
     * the File took (Blob.slice and arrayBuffer: mostly the browser's work outside this thread).
     */
    async modelTensor(job, id, tensorName, spec, method, label = null) {
      const { index } = files.get(id);
      const info = index.tensors.find((t) => t.name === tensorName);
      if (!info) throw new Error(`no tensor named '${tensorName}'`);
      // Not cached: a whole-model run reads each tensor once, and the tensor view's cached one stays. One
      // job per worker at a time, reads included: measured (bench/results/2026-12-04-pool.md), a second job
      // reading ahead while the module works made whole runs slower on 1 and 2 workers, not faster.
      const readStarted = performance.now();
      const { bytes, hint, context } = await tensorBytes(id, tensorName, { cache: false });
      const read_ms = performance.now() - readStarted;
      const infoJson = JSON.stringify(info);
      const specJson = JSON.stringify(spec);
      return callWasm(context, (m) => {
        const started = performance.now();
        const json = label ? m.format_tensor(infoJson, bytes, label) : m.quantize_tensor_calibrated(infoJson, bytes, specJson, method);
        return { ...JSON.parse(json), time_ms: performance.now() - started, read_ms };
      }, hint);
    },
  };
}
