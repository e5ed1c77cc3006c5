// The tensor view's numbers: the comparison rows (each with the time its call took), the pictures
// (histograms, ranges, scales), the sweep behind the Pareto picture, and the number formats the core knows.
import { tensorChunks } from './chunks.js';
import { pieceRows, planSweep, sweepRows } from './sweep.js';

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
   * The comparison read in chunks (Blob.slice) by one wasm job for all columns: a first read for the
   * columns that take ranges (scaled formats, FP8 and NVFP4's amax), then the measuring read. Each
   * chunk is copied into the module and decoded (BF16/F16 → f32) once (`decode`), then fed to one
   * column at a time (`feed_range_column` / `feed_column`), each call timed here. The next chunk is
   * read while the module works on this one. A step after each chunk: progress, and Cancel.
   * Each row's time_ms is its own calls plus an equal share of the decoding and of `finish` (the
   * rows' times add up to the module's whole time); `decode_ms` says how much decoding there was in all.
   * Returns [{ ...row, time_ms, decode_ms }] in column order.
   */
  async function streamColumns(job, tensor, plan, columns) {
    const { info, context } = tensor;
    let wasmJob = await callWasm(context, (m) => m.ComparisonJob.of_columns(JSON.stringify(info), JSON.stringify(columns)));
    try {
      const ranged = columns.map((_, i) => wasmJob.column_needs_range(i));
      const passes = ranged.some(Boolean) ? ['range', 'measure'] : ['measure'];
      const times = columns.map(() => 0);
      let decodeMs = 0;
      const total = passes.length * plan.chunks;
      for (const [p, pass] of passes.entries()) {
        const feed = (bytes) => callWasm(context, () => {
          let started = performance.now();
          wasmJob.decode(bytes);
          decodeMs += performance.now() - started;
          for (let i = 0; i < columns.length; i++) {
            if (pass === 'range' && !ranged[i]) continue;
            started = performance.now();
            if (pass === 'range') wasmJob.feed_range_column(i);
            else wasmJob.feed_column(i);
            times[i] += performance.now() - started;
          }
        });
        await chunks.eachChunk(job, plan, feed, { done: p * plan.chunks, total, detail: pass === 'range' ? 'ranges: ' : 'measuring: ' });
        if (pass === 'range') await callWasm(context, () => wasmJob.end_range_pass());
      }
      const started = performance.now();
      const json = await callWasm(context, () => wasmJob.finish());
      wasmJob = null; // finish took it
      const finishMs = performance.now() - started;
      const shared = (decodeMs + finishMs) / columns.length;
      return JSON.parse(json).map((row, i) => ({ ...row, time_ms: times[i] + shared, decode_ms: decodeMs }));
    } finally {
      if (wasmJob) free(wasmJob);
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
     * long its own calls into the module took here, in the worker (streamed: with an equal share of
     * decoding each chunk once for all columns; `decode_ms` gives the decoding in all). A label the tensor's shape does not
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
     * histogram under `errorSpec`, and every slot's scale under `spec`, with `method`'s ranges — the core's
     * pictures stream (PicturesJob): a tensor of more than CHUNK_BYTES is read in chunks of rows over its
     * 3 or 4 reads, with progress and Cancel; a smaller one is the same stream fed the whole tensor.
     */
    async explore(job, id, tensorName, { spec, errorSpec, method, bins }) {
      const tensor = chunks.tensorSource(id, tensorName);
      const { info, context } = tensor;
      const args = [JSON.stringify(info), JSON.stringify(spec), JSON.stringify(errorSpec), method, bins];
      const plan = await chunks.chunking(tensor);
      let pictures = null;
      try {
        pictures = await callWasm(context, (m) => new m.PicturesJob(...args));
        if (plan) {
          const [reads, keeps] = await callWasm(context, () => [pictures.reads(), pictures.keeps_tensor()]);
          if (keeps) chunks.refuseWhole(tensor, `the pictures of a per-channel ${method} calibration along an axis other than 0`);
          for (let r = 0; await callWasm(context, () => pictures.next_read()); r++) {
            const feed = (bytes) => callWasm(context, () => pictures.feed(bytes));
            await chunks.eachChunk(job, plan, feed, { done: r * plan.chunks, total: reads * plan.chunks, detail: `pictures, read ${r + 1} of ${reads}: ` });
          }
        } else {
          const { bytes, hint } = await tensorBytes(id, tensorName);
          await callWasm(context, () => pictures.feed_whole(bytes), hint);
        }
        const json = await callWasm(context, () => pictures.finish());
        pictures = null; // finish took it
        return JSON.parse(json);
      } finally {
        free(pictures);
      }
    },

    /**
     * The Pareto picture's rows: every spec of the core's sweep for this tensor, then each FP8 / MX / NVFP4 /
     * NF4 / ggml format its shape allows (a row each, tagged with its family), then the front over all. In
     * the core's pieces (sweep.js): a piece per few specs or per format read whole, with a step after each;
     * a tensor too large to read whole in larger pieces, each reading the chunks (progress per chunk).
     */
    async sweep(job, id, tensorName) {
      const tensor = { ...chunks.tensorSource(id, tensorName), id, name: tensorName };
      const { info, context } = tensor;
      const plan = await chunks.chunking(tensor);
      const sweepPlan = await planSweep(callWasm, context, info, plan !== null);
      const { specs, formats, pieces } = sweepPlan;
      const total = specs.length + formats.length;
      const answers = [];
      let done = 0;
      for (const piece of pieces) {
        const columns = { specs: piece.specs.map((i) => specs[i]), formats: piece.formats.map((i) => formats[i]) };
        const size = columns.specs.length + columns.formats.length;
        // A streamed piece steps per chunk: its progress is scaled into the sweep's.
        const inner = { step: (d, t, detail) => job.step(done + (size * d) / t, total, detail) };
        answers.push(await pieceRows(core, chunks, plan ? inner : job, tensor, plan, columns));
        done += size;
        await job.step(done, total);
      }
      const rows = sweepRows(sweepPlan, answers);
      const points = JSON.stringify(rows.map((r) => [r.bits_per_weight, r.sqnr_db]));
      const front = JSON.parse(await callWasm(context, (m) => m.pareto_front(points)));
      rows.forEach((r, i) => { r.pareto = front[i]; });
      return rows;
    },
  };
}
