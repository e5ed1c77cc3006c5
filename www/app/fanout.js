// One-shot jobs that the bridge (www/app/bridge.js) spreads over the pool of workers behind run(), with the
// same answer as one worker's job: the export (tensors encoded on every worker, written in order by the
// one writer), the sweep behind the Pareto picture (in the core's pieces, www/worker/sweep.js), and the PTQ
// view's variants and its "which layer hurts" (one variant or one layer per job, each worker running its
// own onnxruntime-web session on the primary's model, inputs and ranges).

/** Encoded parts an export may hold ahead of the writer, per worker (bounds the page's memory). */
const EXPORT_AHEAD_PER_WORKER = 2;

/**
 * exportFile(id, request, sink) over the pool: the primary plans the file and writes the header, the
 * trailer and the report; every worker plans the same export and encodes the tensors handed to it;
 * the parts go to `sink` in the plan's order, at most EXPORT_AHEAD_PER_WORKER × size ahead of it. The
 * report is the primary's, each tensor's row from the worker that encoded it (GGUF notes its NaNs there).
 * The bytes equal one worker's exportFile: every part is a function of the plan and the tensor alone.
 */
async function exportOnPool({ pool, runOn, cancelled }, [id, request, sink], { signal, onProgress } = {}) {
  const key = `export-${pool.jobId()}`;
  const planned = new Set(); // the workers holding this export's session
  const begin = async (index) => {
    if (planned.has(index)) return;
    planned.add(index);
    await runOn(index, 'exportBegin', [key, id, request], { signal });
  };
  try {
    await begin(0);
    const { count, names } = await runOn(0, 'exportSources', [key], { signal });
    await sink(await runOn(0, 'exportHeader', [key], { signal }));
    const parts = new Map(); // tensor index → { bytes, worker } not yet written
    const encodedOn = new Map(); // tensor name → worker index
    let written = 0;
    let failure = null;
    let writing = false; // one writer at a time: the parts reach the sink in order, one in flight
    const windowSize = EXPORT_AHEAD_PER_WORKER * pool.size;
    const waiters = [];
    const wakeAll = () => waiters.splice(0).forEach((wake) => wake());
    signal?.addEventListener('abort', wakeAll, { once: true });
    await pool.each(count, {
      stop: () => failure !== null || signal?.aborted === true,
      gate: (i) => new Promise((resolve) => {
        const check = () => (i < written + windowSize || failure !== null || signal?.aborted ? resolve() : waiters.push(check));
        check();
      }),
      start: async (i, index) => {
        await begin(index);
        return { bytes: await runOn(index, 'exportEncode', [key, i], { signal }), worker: index };
      },
      settled: async (i, outcome) => {
        if (outcome.error) {
          failure ??= outcome.error;
          wakeAll();
          return;
        }
        parts.set(i, outcome.value);
        if (writing) return; // the writer in flight takes this part when its turn comes
        writing = true;
        // The one writer: whoever finds the next part in order writes it and the ones after it.
        while (parts.has(written) && failure === null) {
          const part = parts.get(written);
          parts.delete(written);
          encodedOn.set(names[written], part.worker);
          written += 1;
          try {
            await sink(part.bytes);
          } catch (error) {
            failure ??= error;
          }
          if (!signal?.aborted) onProgress?.(written, count, names[written - 1]);
          wakeAll();
        }
        writing = false;
      },
    });
    if (signal?.aborted) throw cancelled();
    if (failure) throw failure;
    await sink(await runOn(0, 'exportTrailer', [key], { signal }));
    const report = await runOn(0, 'exportReport', [key], { signal });
    const others = new Map();
    for (const index of new Set(encodedOn.values())) {
      if (index !== 0) others.set(index, await runOn(index, 'exportReport', [key]));
    }
    report.tensors = report.tensors.map((row) => {
      const index = encodedOn.get(row.name);
      return others.has(index) ? others.get(index).tensors.find((r) => r.name === row.name) ?? row : row;
    });
    return report;
  } finally {
    for (const index of planned) runOn(index, 'exportEnd', [key]).catch(() => {});
  }
}

/**
 * sweep(id, tensorName) over the pool: compare.js's rows in its order (the specs of the core's sweep, then
 * each format the shape allows, tagged with its family), in the core's pieces (sweep_pieces: a few specs or
 * one format each for a tensor read whole; for one read in chunks, as many columns as their per-slot state
 * allows, each piece reading the chunks itself), each piece on the next free worker other than the primary
 * (when there is one), then the front over all of them. The same rows as one worker's sweep: each row is a
 * function of the tensor and its spec or format alone.
 */
async function sweepOnPool({ pool, runOn, cancelled }, [id, tensorName], { signal, onProgress } = {}) {
  const { specs, formats, pieces } = await runOn(0, 'sweepPlan', [id, tensorName], { signal });
  const columns = pieces.map((p) => ({ specs: p.specs.map((i) => specs[i]), formats: p.formats.map((i) => formats[i]) }));
  const total = specs.length + formats.length;
  const answers = new Array(pieces.length);
  const within = new Array(pieces.length).fill(0); // each piece's share done so far (a streamed piece reports its chunks)
  let done = 0;
  let failure = null;
  const report = () => {
    if (!signal?.aborted) onProgress?.(done + within.reduce((a, b) => a + b, 0), total);
  };
  // The sweep is computed while the primary answers the shown tensor's comparison and pictures: its pieces
  // go to the other workers.
  await pool.each(pieces.length, {
    besidePrimary: true,
    stop: () => failure !== null || signal?.aborted === true,
    start: (i, index) => runOn(index, 'sweepPiece', [id, tensorName, columns[i]], {
      signal,
      onProgress: (d, t) => {
        within[i] = ((columns[i].specs.length + columns[i].formats.length) * d) / t;
        report();
      },
    }),
    settled: (i, outcome) => {
      if (outcome.error) {
        failure ??= outcome.error;
        return;
      }
      answers[i] = outcome.value;
      within[i] = 0;
      done += columns[i].specs.length + columns[i].formats.length;
      report();
    },
  });
  if (signal?.aborted) throw cancelled();
  if (failure) throw failure;
  // In the plan's order (www/worker/sweep.js sweepRows, which the one-worker sweep uses).
  const rows = [];
  pieces.forEach((piece, p) => {
    piece.specs.forEach((s, k) => { rows[s] = answers[p][k]; });
    piece.formats.forEach((f, k) => { rows[specs.length + f] = answers[p][piece.specs.length + k]; });
  });
  const front = await runOn(0, 'paretoFront', [rows.map((r) => [r.bits_per_weight, r.sqnr_db])], { signal });
  rows.forEach((r, i) => { r.pareto = front[i]; });
  return rows;
}

/**
 * The PTQ state of the primary (www/worker/ptq.js ptqShare: the model, its inputs, FP32's outputs, the
 * ranges) on worker `index`, once per revision: returns a function that makes sure of it before a job
 * there. The primary itself holds it.
 */
function ptqStateOn({ runOn }, signal) {
  let shared = null; // the primary's state, asked once per fan-out
  const ready = new Map(); // worker index → promise of its adoption
  return (index) => {
    if (index === 0) return Promise.resolve();
    if (!ready.has(index)) {
      ready.set(index, (async () => {
        shared ??= runOn(0, 'ptqShare', [], { signal });
        const state = await shared;
        if ((await runOn(index, 'ptqRevision', [], { signal })) !== state.revision) await runOn(index, 'ptqAdopt', [state], { signal });
      })());
    }
    return ready.get(index);
  };
}

/**
 * Jobs 0..count-1 over the pool with the primary's PTQ state on every worker: { answers, failure } with
 * the answers before the first job that failed (all when none did) and that failure. A failure stops
 * handing out more; a cancel rejects with `partial`: the answers before the first one left undone.
 */
async function ptqEach({ pool, runOn, cancelled }, count, job, { signal, onProgress, label }) {
  const stateOn = ptqStateOn({ runOn }, signal);
  const answers = new Array(count);
  const failures = new Map(); // job index → its error
  let done = 0;
  await pool.each(count, {
    stop: () => failures.size > 0 || signal?.aborted === true,
    start: async (i, index) => {
      await stateOn(index);
      return runOn(index, ...job(i), { signal });
    },
    settled: (i, outcome) => {
      if (outcome.error) {
        if (outcome.error.name !== 'AbortError') failures.set(i, outcome.error);
        return;
      }
      answers[i] = outcome.value;
      done += 1;
      if (!signal?.aborted) onProgress?.(done, count, label(i));
    },
  });
  const first = answers.findIndex((a) => a === undefined);
  if (first === -1) return { answers, failure: null };
  // The first job not answered failed (one worker would have stopped there), or a cancel left it undone
  // (jobs are handed out in order, so every job before a failure was handed out and answered).
  if (failures.has(first)) return { answers: answers.slice(0, first), failure: failures.get(first) };
  throw cancelled(answers.slice(0, first));
}

/**
 * ptqVariants(list) over the pool: each variant measured on the next free worker (the same rows as one
 * worker's: a variant's rewrite and its evaluation are functions of the model, the inputs and the ranges;
 * only its ms differ), { rows, error } in the list's order up to the first failure, as one worker's
 * ptqVariants answers; the primary records the ones measured elsewhere (their bytes are rewritten there
 * when asked for: the Download panel).
 */
async function ptqVariantsOnPool(context, [list], { signal, onProgress } = {}) {
  const { runOn } = context;
  const record = (rows) => runOn(0, 'ptqRecord', [rows.map((r) => r.variant)]);
  try {
    const { answers, failure } = await ptqEach(context, list.length, (i) => ['ptqVariant', [list[i]]], { signal, onProgress, label: (i) => `measured ${variantName(list[i])}` });
    await record(answers);
    return { rows: answers, error: failure ? failure.message ?? String(failure) : null };
  } catch (error) {
    if (error?.name === 'AbortError' && error.partial?.length) await record(error.partial).catch(() => {});
    throw error;
  }
}

/** A short name of a PTQ variant for the progress line (the table's label is the worker's variantLabel). */
const variantName = (v) => [v.kind, v.method, v.granularity && `per ${v.granularity}`].filter(Boolean).join(' ');

/**
 * ptqBlame(variant) over the pool: the layers with weights from the primary, each node's own output
 * error and each layer quantized alone as jobs over every worker, then the rows in the layers' order,
 * sorted as one worker sorts them (a stable sort of the same rows).
 */
async function ptqBlameOnPool(context, [variant], { signal, onProgress } = {}) {
  const { runOn } = context;
  if (variant.kind !== 'static') throw new Error('one layer at a time is measured for a static variant');
  const nodes = await runOn(0, 'ptqWeightNodes', [], { signal });
  // Job 0: every node's own output (both models with those outputs exposed); then one job per layer. A
  // worker runs one of them at a time (its onnxruntime-web instance runs one session at a time).
  const job = (i) => (i === 0 ? ['ptqNodeErrors', [variant, nodes.map((n) => n.name)]] : ['ptqOnlyNode', [variant, nodes[i - 1], nodes, null]]);
  const label = (i) => (i === 0 ? 'each node\'s own output' : `only ${nodes[i - 1].name} quantized`);
  try {
    const { answers, failure } = await ptqEach(context, nodes.length + 1, job, { signal, onProgress, label });
    if (failure) throw failure;
    const [own, ...rows] = answers;
    return withOwn(rows, own).sort((a, b) => a.sqnr_db - b.sqnr_db);
  } catch (error) {
    if (error?.name === 'AbortError') {
      const [own, ...rows] = error.partial ?? [];
      error.partial = withOwn(rows, own);
    }
    throw error;
  }
}

/** The blame rows with each node's own output error (ptqNodeErrors' rows) filled in. */
function withOwn(rows, own) {
  const ownBy = new Map((own ?? []).map((r) => [r.node, r]));
  return rows.map((row) => ({ ...row, own_output: ownBy.get(row.node)?.output ?? null, own_sqnr_db: ownBy.get(row.node)?.sqnr_db ?? null }));
}

export const FAN_OUT = { exportFile: exportOnPool, sweep: sweepOnPool, ptqVariants: ptqVariantsOnPool, ptqBlame: ptqBlameOnPool };
