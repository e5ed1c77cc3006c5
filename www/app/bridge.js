// The one way the page talks to the workers. run(method, args, { signal, onProgress }) is one-shot work on
// the primary worker; runEach(method, items, …) spreads one call per item over the pool (www/app/pool.js)
// and answers in the items' order, whatever the pool's size. The AbortSignal is the only cancel; a
// cancelled job rejects with a DOMException named "AbortError" whose `partial` holds what the job had
// finished, if anything. Progress that arrives after the answer is dropped here, once for every caller.
// An export (exportFile) fans out behind run(): tensors are encoded on every worker, written in order.
import * as Comlink from 'comlink';
import { createPool, poolSize } from './pool.js';

/** True when `error` is the bridge's cancelled result. */
export const isCancelled = (error) => error?.name === 'AbortError';

function cancelled(partial) {
  const error = new DOMException('The job was cancelled.', 'AbortError');
  error.partial = partial;
  return error;
}

/** Encoded parts an export may hold ahead of the writer, per worker (bounds the page's memory). */
const EXPORT_AHEAD_PER_WORKER = 2;

/**
 * Starts the pool: `workers` workers (default: the URL's `workers=N`, else navigator.hardwareConcurrency,
 * capped). `onFailure(message)` hears when the primary cannot start. Arguments that are functions (an
 * export's sink) are passed as comlink proxies; everything else is copied (File objects too).
 */
export function createBridge({ onFailure, workers = poolSize(location.search, navigator.hardwareConcurrency) }) {
  const pool = createPool({ size: workers, onFailure });

  /** One job on worker `index`, with cancel and progress wired: resolves with its answer. */
  async function runOn(index, method, args, { signal, onProgress } = {}) {
    if (signal?.aborted) throw cancelled();
    const id = pool.jobId();
    let settled = false;
    const progress = onProgress && Comlink.proxy((done, total, detail) => {
      if (!settled && !signal?.aborted) onProgress(done, total, detail);
    });
    let remote = null;
    const cancel = () => remote?.cancel(id);
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      const wired = args.map((a) => (typeof a === 'function' ? Comlink.proxy(a) : a));
      const result = await pool.call(index, (r) => {
        remote = r;
        if (signal?.aborted) return Promise.resolve({ cancelled: true });
        return r.run(method, id, progress, ...wired);
      });
      if (result?.cancelled === true) throw cancelled(result.partial);
      return result;
    } finally {
      settled = true;
      signal?.removeEventListener('abort', cancel);
    }
  }

  async function run(method, args = [], options = {}) {
    if (method === 'exportFile' && pool.size > 1) return exportOnPool(args, options);
    const result = await runOn(0, method, args, options);
    // The other workers mirror the primary's file table (same ids), for the work spread over them.
    if (method === 'openFiles' && result.opened.length) {
      await pool.remember(await runOn(0, 'fileEntries', [result.opened.map((f) => f.id)]));
    } else if (method === 'close') {
      pool.forget(args[0]);
    }
    return result;
  }

  /**
   * One call of `method` per item (`items`: argument lists) over every worker; resolves with
   * [{ value } | { error }] in the items' order. A failed item (an error of the module, a worker that
   * died) does not stop the others. Progress counts the items answered; `label(item, i)` is its detail.
   * A cancel stops handing out items, lets the ones in flight finish, and rejects with `partial`: the
   * answers of the items before the first one left undone.
   */
  async function runEach(method, items, { signal, onProgress, label = () => undefined } = {}) {
    if (signal?.aborted) throw cancelled([]);
    const answers = new Array(items.length);
    let done = 0;
    await pool.each(items.length, {
      stop: () => signal?.aborted === true,
      start: (i, worker) => runOn(worker, method, items[i], { signal }),
      settled: (i, outcome) => {
        if (isCancelled(outcome.error)) return; // stopped before it began: left undone
        answers[i] = outcome;
        done += 1;
        if (!signal?.aborted) onProgress?.(done, items.length, label(items[i], i));
      },
    });
    const first = answers.findIndex((a) => a === undefined);
    if (first !== -1) throw cancelled(answers.slice(0, first)); // only a cancel leaves an item undone
    return answers;
  }

  /**
   * exportFile(id, request, sink) over the pool: the primary plans the file and writes the header, the
   * trailer and the report; every worker plans the same export and encodes the tensors handed to it;
   * the parts go to `sink` in the plan's order, at most EXPORT_AHEAD_PER_WORKER × size ahead of it. The
   * report is the primary's, each tensor's row from the worker that encoded it (GGUF notes its NaNs there).
   * The bytes equal one worker's exportFile: every part is a function of the plan and the tensor alone.
   */
  async function exportOnPool([id, request, sink], { signal, onProgress } = {}) {
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
        return index ? others.get(index).tensors.find((r) => r.name === row.name) ?? row : row;
      });
      return report;
    } finally {
      for (const index of planned) runOn(index, 'exportEnd', [key]).catch(() => {});
    }
  }

  return { run, runEach, workers: pool.size };
}
