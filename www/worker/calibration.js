// Calibration: the methods the core knows, one tensor's method table with its searched curves, synthetic
// activation sets, and activation batches calibrated in streaming fashion (calib/batches.rs).
import { tensorChunks } from './chunks.js';

/** @param core the worker's core (www/worker/index.js) */
export default function calibrationDomain(core) {
  const { callWasm, free, readIndex, readStored, tensorBytes } = core;
  const chunks = tensorChunks(core);

  /**
   * `calibrate --method METHODS --json` for one tensor: read whole, or in chunks of rows over the three
   * reads of calib::WeightCalibration (range, histograms, measurement; the same report) when it is
   * larger than a chunk (chunks.js), with progress and Cancel. The report's own histograms are left
   * here: the Values picture draws the tensor's.
   */
  async function calibrateWeight(job, id, tensorName, bits, scheme, methods) {
    const tensor = chunks.tensorSource(id, tensorName);
    const plan = await chunks.chunking(tensor);
    let report;
    if (!plan) {
      const { info, bytes, hint, context } = await tensorBytes(id, tensorName);
      report = JSON.parse(await callWasm(context, (m) => m.calibrate_tensor(JSON.stringify(info), bytes, bits, scheme, methods, true), hint));
    } else {
      const { info, context } = tensor;
      const calibration = await callWasm(context, (m) => new m.WeightCalibrationJob(JSON.stringify(info), bits, scheme, methods));
      try {
        const reads = ['range', 'histograms', 'measuring'];
        for (let pass = 0; await callWasm(context, () => calibration.next_pass()); pass++) {
          const detail = `${reads[pass] ?? 'reading'}: `;
          await chunks.eachChunk(job, plan, (bytes) => callWasm(context, () => calibration.feed(bytes)), { done: pass * plan.chunks, total: reads.length * plan.chunks, detail });
        }
      } catch (error) {
        free(calibration);
        throw error;
      }
      report = JSON.parse(await callWasm(context, () => calibration.finish(true))); // takes the job
    }
    delete report.details?.histograms;
    return report;
  }

  return {
    /** The calibration methods the core can quantize with (the page lists only these). */
    calibrationMethods: async () => JSON.parse(await callWasm('calibration methods', (m) => m.calibration_methods())),

    /**
     * `calibrate --json` for one tensor at `bits` and `scheme` (every method, one range for the whole
     * tensor), with the curves the searching methods minimised. The report's own histograms are left
     * here: the Values picture draws the tensor's.
     */
    calibrate: (job, id, tensorName, bits, scheme) => calibrateWeight(job, id, tensorName, bits, scheme, 'all'),

    /** Every calibration method with its dialect (ort, trt, ours) and what it follows (`calibrate --help`'s lines). */
    calibrationDialects: async () => JSON.parse(await callWasm('calibration dialects', (m) => m.calibration_dialects())),

    /**
     * `calibrate --method A,B --json` for one tensor: the methods in `methods` (a comma list of labels),
     * with their searched curves; the histograms are left here as in `calibrate`.
     */
    calibrateMethods: (job, id, tensorName, bits, scheme, methods) => calibrateWeight(job, id, tensorName, bits, scheme, methods),

    /** The synthetic activation distributions the core knows (names for `syntheticActivations`). */
    syntheticDistributions: async () => JSON.parse(await callWasm('synthetic distributions', (m) => m.synthetic_distributions())),

    /** A seeded synthetic activation set: a .safetensors file's bytes, one F32 tensor `activations` [rows, 768]. */
    async syntheticActivations(job, distribution, rows, seed) {
      const bytes = await callWasm(`synthetic ${distribution} activations`, (m) => m.synthetic_activations(distribution, rows, seed));
      return core.transfer(bytes);
    },

    /**
     * Activation batches: every quantizable tensor of every file given (one array of a .npy, each array of
     * an .npz) is a batch of ONE activation set, calibrated in three passes, each batch read from its File,
     * used and dropped; a step after each batch of each pass. The result is `calibrate FILE… --batches --json`'s.
     */
    async calibrateBatches(job, list, bits, scheme) {
      const batches = [];
      for (const file of list) {
        const index = await readIndex(file);
        const floats = index.tensors.filter((t) => t.quantizable);
        // The core says what the file holds instead (parse_index's `holdings`).
        if (!floats.length) throw new Error(`nothing to calibrate: ${index.holdings ?? `${file.name} holds no float tensor`}`);
        const outside = floats.find((t) => t.data_file);
        if (outside) throw new Error(`${file.name}: tensor '${outside.name}' is stored in ${outside.data_file}; batches are read from single files (.npy, .npz, .safetensors)`);
        for (const info of floats) batches.push({ file, info });
      }
      const passes = ['scan', 'add', 'measure'];
      const total = passes.length * batches.length;
      let done = 0;
      const calibrator = await callWasm('activation batches', (q) => new q.BatchCalibrator(bits, scheme, 'all'));
      try {
        for (const pass of passes) {
          for (const { file, info } of batches) {
            const context = `${file.name}: tensor '${info.name}'`;
            const bytes = await readStored(file, info, context);
            await callWasm(context, (q) => calibrator[pass](q.tensor_values(JSON.stringify(info), bytes)));
            done += 1;
            await job.step(done, total, `${pass} ${info.name}`);
          }
        }
        const report = JSON.parse(await callWasm('activation batches', () => calibrator.report(false)));
        return { ...report, sources: batches.map(({ file, info }) => ({ file: file.name, tensor: info.name })) };
      } finally {
        free(calibrator);
      }
    },
  };
}
