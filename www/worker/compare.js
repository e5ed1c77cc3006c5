// The tensor view's numbers: the comparison rows (each with the time its call took), the pictures
// (histograms, ranges, scales), the sweep behind the Pareto picture, and the number formats the core knows.
import { tensorChunks } from './chunks.js';

/** Specs per call of the sweep: small enough that progress moves and a cancel is heard soon. */
const SWEEP_CHUNK = 7;

/** @param core the worker's core (www/worker/index.js) */
export default function compareDomain(core) {
  const { callWasm, free, tensorBytes } = core;
  const chunks = tensorChunks(core);

  /**
   * A call into the module that returns one report row (JSON), with the time it took. How often it is
   * called and which time counts is the core's timing policy (src/app/speed.rs CallTimer): the worker's
   * clock ticks in 0.1 ms steps, so small tensors are timed in batches of calls.
   */
  function timed(context, fn, hint, elements, rowOf = JSON.parse) {
    return callWasm(context, (m) => {
      const timer = new m.CallTimer(elements);
      try {
        let json;
        for (let calls; (calls = timer.next_calls(performance.now())) > 0;) {
          const started = performance.now();
          for (let i = 0; i < calls; i++) json = fn(m);
          timer.record(calls, performance.now() - started);
        }
        return { ...rowOf(json), time_ms: timer.best_ms() };
      } finally {
        timer.free();
      }
    }, hint);
  }

  /**
   * The comparison read in chunks (Blob.slice), each fed to every column's job: a first read for the
   * columns that take ranges (scaled formats, FP8 and NVFP4's amax), then the measuring read. The next
   * chunk is read while the module works on this one. A step after each chunk: progress, and Cancel.
   * Each column's time is the sum of its own calls. Returns [{ ...row, time_ms }] in column order.
   */
  async function streamColumns(job, tensor, plan, columns) {
    const { info, context } = tensor;
    const infoJson = JSON.stringify(info);
    const jobs = [];
    try {
      for (const column of columns) jobs.push(await callWasm(context, (m) => m.ComparisonJob.of_columns(infoJson, JSON.stringify([column]))));
      const ranged = jobs.map((j) => j.needs_range_pass());
      const passes = ranged.some(Boolean) ? ['range', 'measure'] : ['measure'];
      const times = columns.map(() => 0);
      const total = passes.length * plan.chunks;
      for (const [p, pass] of passes.entries()) {
        const feed = (bytes) => callWasm(context, () => {
          jobs.forEach((j, i) => {
            if (pass === 'range' && !ranged[i]) return;
            const started = performance.now();
            if (pass === 'range') j.feed_range(bytes);
            else j.feed(bytes);
            times[i] += performance.now() - started;
          });
        });
        await chunks.eachChunk(job, plan, feed, { done: p * plan.chunks, total, detail: pass === 'range' ? 'ranges: ' : 'measuring: ' });
        if (pass === 'range') await callWasm(context, () => jobs.forEach((j, i) => ranged[i] && j.end_range_pass()));
      }
      const rows = [];
      for (let i = 0; i < jobs.length; i++) {
        const started = performance.now();
        const json = await callWasm(context, () => jobs[i].finish());
        jobs[i] = null; // finish took it
        rows.push({ ...JSON.parse(json)[0], time_ms: times[i] + performance.now() - started });
      }
      return rows;
    } finally {
      jobs.forEach(free);
    }
  }

  /**
   * One integer spec under a calibration method other than min-max, read in chunks (the core's
   * CalibratedColumnJob: the per-slot calibration's reads — a range read and histogram reads, or one
   * read when the slots come one after another — then the measuring read), with progress and Cancel.
   * The row equals quantize_tensor_calibrated's on the whole tensor; time_ms is the sum of its calls.
   */
  async function streamCalibrated(job, tensor, plan, spec, method, index, count) {
    const { info, context } = tensor;
    const column = await callWasm(context, (m) => new m.CalibratedColumnJob(JSON.stringify(info), JSON.stringify(spec), method));
    let time = 0;
    const call = (fn) => callWasm(context, () => {
      const started = performance.now();
      try {
        return fn();
      } finally {
        time += performance.now() - started;
      }
    });
    try {
      // Three reads is the usual count (range, histograms, measure); progress says which one runs.
      for (let read = 0, pass; (pass = await call(() => column.next_pass())); read++) {
        const detail = `${method} ${index + 1}/${count}, ${pass === 'measure' ? 'measuring' : 'calibrating'}: `;
        await chunks.eachChunk(job, plan, (bytes) => call(() => column.feed(bytes)), { done: read * plan.chunks, total: Math.max(3, read + 2) * plan.chunks, detail });
      }
    } catch (error) {
      free(column);
      throw error;
    }
    const row = JSON.parse(await call(() => column.finish())); // takes the job
    return { ...row, time_ms: time };
  }

  /** One column's row of a tensor read whole: the stream fed one chunk (timed as the core's CallTimer says). */
  function wholeColumn(context, infoJson, bytes, column, hint, elements) {
    const columnJson = JSON.stringify([column]);
    return timed(context, (m) => {
      const j = m.ComparisonJob.of_columns(infoJson, columnJson);
      try {
        j.feed_whole(bytes);
      } catch (error) {
        free(j);
        throw error;
      }
      return j.finish(); // takes the job
    }, hint, elements, (json) => JSON.parse(json)[0]);
  }

  return {
    /**
     * FP32 | FP16 | BF16 | one row per spec | one row per format label (FP8, MX, NVFP4, NF4, ggml), for
     * one tensor of an open file (see app/report.rs for a row), from the core's comparison stream: a
     * tensor of more than CHUNK_BYTES is read in chunks of rows, with progress and Cancel, so memory
     * holds a chunk; a smaller one is the same stream fed one chunk. Each row also carries time_ms: how
     * long its own calls into the module took here, in the worker. A label the tensor's shape does not
     * allow gives `{ config, error }` (the core's reason) in its place, and the other columns still
     * show. Integer specs under another calibration than min-max are streamed too, each on its own reads
     * (streamCalibrated: the per-slot calibration, then the measurement), after the other columns.
     */
    async compare(job, id, tensorName, floats, specs, method, labels = []) {
      const tensor = chunks.tensorSource(id, tensorName);
      const { info, context } = tensor;
      const shapeJson = JSON.stringify(info.shape);
      const columns = []; // { config, column } to compute, or { config, error }
      const minmax = method === 'minmax';
      for (const format of floats) columns.push({ column: format });
      for (const spec of specs) columns.push({ column: spec, calibrated: !minmax });
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
        columns.push(misfit ? { config: label, error: misfit } : { column: label });
      }
      const plan = await chunks.chunking(tensor);
      const rows = new Array(columns.length);
      if (plan) {
        const streamed = columns.map((c, i) => [c, i]).filter(([c]) => c.column !== undefined && !c.calibrated);
        const answers = streamed.length ? await streamColumns(job, tensor, plan, streamed.map(([c]) => c.column)) : [];
        streamed.forEach(([, i], k) => { rows[i] = answers[k]; });
      }
      if (plan) {
        const calibrated = columns.map((c, i) => [c, i]).filter(([c]) => c.column !== undefined && c.calibrated);
        for (const [k, [c, i]] of calibrated.entries()) rows[i] = await streamCalibrated(job, tensor, plan, c.column, method, k, calibrated.length);
      }
      const whole = columns.map((c, i) => [c, i]).filter(([c]) => c.column !== undefined && !plan);
      if (whole.length) {
        const { bytes, hint } = await tensorBytes(id, tensorName);
        const infoJson = JSON.stringify(info);
        const elements = info.shape.reduce((a, b) => a * b, 1);
        for (const [c, i] of whole) {
          rows[i] = c.calibrated
            ? await timed(context, (m) => m.quantize_tensor_calibrated(infoJson, bytes, JSON.stringify(c.column), method), hint, elements)
            : await wholeColumn(context, infoJson, bytes, c.column, hint, elements);
        }
      }
      columns.forEach((c, i) => { if (c.error) rows[i] = { config: c.config, error: c.error }; });
      return rows;
    },

    /**
     * What the pictures need for one tensor: the value histogram with the calibration ranges, the error
     * histogram under `errorSpec`, and every slot's scale under `spec`, with `method`'s ranges.
     */
    async explore(job, id, tensorName, { spec, errorSpec, method, bins }) {
      chunks.refuseWhole(chunks.tensorSource(id, tensorName), 'the pictures (value and error histograms, ranges, scales)');
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
      chunks.refuseWhole(chunks.tensorSource(id, tensorName), 'the sweep');
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
