// The one way the page talks to the workers. run(method, args, { signal, onProgress }) is one-shot work on
// the primary worker; runEach(method, items, …) spreads one call per item over the pool (www/app/pool.js)
// and answers in the items' order, whatever the pool's size. The AbortSignal is the only cancel; a
// cancelled job rejects with a DOMException named "AbortError" whose `partial` holds what the job had
// finished, if anything. Progress that arrives after the answer is dropped here, once for every caller.
// Some one-shot methods fan out behind run() (www/app/fanout.js): the export and the sweep.
import * as Comlink from 'comlink';
import { FAN_OUT } from './fanout.js';
import { createPool, poolSize } from './pool.js';

/** True when `error` is the bridge's cancelled result. */
export const isCancelled = (error) => error?.name === 'AbortError';

function cancelled(partial) {
  const error = new DOMException('The job was cancelled.', 'AbortError');
  error.partial = partial;
  return error;
}

/**
 * Starts the pool: `workers` workers (default: the URL's `workers=N`, else navigator.hardwareConcurrency,
 * capped). `onFailure(message)` hears when the primary cannot start. Arguments that are functions (an
 * export's sink) are passed as comlink proxies; everything else is copied (File objects too).
 */
export function createBridge({ onFailure, workers = poolSize(location.search, navigator.hardwareConcurrency) }) {
  const pool = createPool({ size: workers, onFailure });

  /**
   * One job on worker `index`, with cancel and progress wired: resolves with its answer. `handedOut`: the
   * job was given out before the signal fired, so it starts anyway (a cancel then stops it at its next step).
   */
  async function runOn(index, method, args, { signal, onProgress, handedOut = false } = {}) {
    if (signal?.aborted && !handedOut) throw cancelled();
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
        if (signal?.aborted && !handedOut) return Promise.resolve({ cancelled: true });
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
    if (pool.size > 1 && FAN_OUT[method]) return FAN_OUT[method]({ pool, runOn, cancelled }, args, options);
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
      start: (i, worker) => runOn(worker, method, items[i], { signal, handedOut: true }),
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

  return { run, runEach, workers: pool.size };
}
