// The tensor view's numbers: the comparison rows (each with the time its call took), the pictures
// (histograms, ranges, scales), the sweep behind the Pareto picture, and the number formats the core knows.

/** Specs per call of the sweep: small enough that progress moves and a cancel is heard soon. */
const SWEEP_CHUNK = 7;


/** @param core the worker's core (www/worker/index.js) */
export default function compareDomain(core) {
  const { callWasm, tensorBytes } = core;

  /**
   * A call into the module that returns one report row (JSON), with the time it took. How often it is
   * called and which time counts is the core's timing policy (src/app/speed.rs CallTimer): the worker's
   * clock ticks in 0.1 ms steps, so small tensors are timed in batches of calls.
   */
  function timed(context, fn, hint, elements) {
    return callWasm(context, (m) => {
      const timer = new m.CallTimer(elements);
      try {
        let json;
        for (let calls; (calls = timer.next_calls(performance.now())) > 0;) {
          const started = performance.now();
          for (let i = 0; i < calls; i++) json = fn(m);
          timer.record(calls, performance.now() - started);
        }
        return { ...JSON.parse(json), time_ms: timer.best_ms() };
      } finally {
        timer.free();
      }
    }, hint);
  }

  return {
    /**
     * FP32 | FP16 | BF16 | one row per spec | one row per format label (FP8, MX, NVFP4, NF4, ggml), for
     * one tensor of an open file (see app/report.rs for a row). Each row also carries time_ms: how long
     * its own call into the module took here, in the worker. A label the tensor's shape does not allow
     * gives `{ config, error }` (the core's reason) in its place, and the other columns still show.
     */
    async compare(job, id, tensorName, floats, specs, method, labels = []) {
      const { info, bytes, hint, context } = await tensorBytes(id, tensorName);
      const infoJson = JSON.stringify(info);
      const elements = info.shape.reduce((a, b) => a * b, 1);
      const rows = [];
      for (const format of floats) {
        rows.push(await timed(context, (m) => m.float_tensor(infoJson, bytes, format), hint, elements));
      }
      for (const spec of specs) {
        rows.push(await timed(context, (m) => m.quantize_tensor_calibrated(infoJson, bytes, JSON.stringify(spec), method), hint, elements));
      }
      const shapeJson = JSON.stringify(info.shape);
      for (const label of labels) {
        const misfit = await callWasm(context, (m) => {
          try {
            m.format_fits_shape(label, shapeJson);
            return null;
          } catch (error) {
            if (!(error instanceof Error && error.name === 'Error')) throw error; // a trap: callWasm restarts the module
            return error.message;
          }
        });
        rows.push(misfit ? { config: label, error: misfit } : await timed(context, (m) => m.format_tensor(infoJson, bytes, label), hint, elements));
      }
      return rows;
    },

    /**
     * What the pictures need for one tensor: the value histogram with the calibration ranges, the error
     * histogram under `errorSpec`, and every slot's scale under `spec`, with `method`'s ranges.
     */
    async explore(job, id, tensorName, { spec, errorSpec, method, bins }) {
      const { info, bytes, hint, context } = await tensorBytes(id, tensorName);
      const infoJson = JSON.stringify(info);
      const call = async (fn) => JSON.parse(await callWasm(context, fn, hint));
      return {
        values: await call((m) => m.value_histogram(infoJson, bytes, bins)),
        ranges: await call((m) => m.calibration_ranges(infoJson, bytes, JSON.stringify(spec))),
        errors: await call((m) => m.error_histogram(infoJson, bytes, JSON.stringify(errorSpec), method, bins)),
        slots: await call((m) => m.slot_params(infoJson, bytes, JSON.stringify(spec), method)),
      };
    },

    /**
     * The Pareto picture's rows: every spec of the core's sweep for this tensor, a few per step, then each
     * FP8 / MX / NVFP4 / NF4 / ggml format its shape allows (a row each, tagged with its family), then
     * the front over all.
     */
    async sweep(job, id, tensorName) {
      const { info, bytes, hint, context } = await tensorBytes(id, tensorName);
      const infoJson = JSON.stringify(info);
      const shapeJson = JSON.stringify(info.shape);
      const specs = JSON.parse(await callWasm(context, (m) => m.sweep_specs(shapeJson)));
      const formats = JSON.parse(await callWasm(context, (m) => m.sweep_formats(shapeJson)));
      const total = specs.length + formats.length;
      const rows = [];
      for (let i = 0; i < specs.length; i += SWEEP_CHUNK) {
        const chunk = JSON.stringify(specs.slice(i, i + SWEEP_CHUNK));
        rows.push(...JSON.parse(await callWasm(context, (m) => m.sweep_tensor(infoJson, bytes, chunk), hint)));
        await job.step(rows.length, total);
      }
      for (const { label, family } of formats) {
        rows.push({ ...JSON.parse(await callWasm(context, (m) => m.format_tensor(infoJson, bytes, label), hint)), family });
        await job.step(rows.length, total);
      }
      const points = JSON.stringify(rows.map((r) => [r.bits_per_weight, r.sqnr_db]));
      const front = JSON.parse(await callWasm(context, (m) => m.pareto_front(points)));
      rows.forEach((r, i) => { r.pareto = front[i]; });
      return rows;
    },
  };
}
