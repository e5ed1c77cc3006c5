// The one way the page talks to the worker: run(method, args, { signal, onProgress }). The AbortSignal is
// the only cancel; a cancelled job rejects with a DOMException named "AbortError" whose `partial` holds
// what the job had finished (the tensors of a whole-model run), if anything. Progress that arrives after
// the answer is dropped here, once for every caller.
import * as Comlink from 'comlink';

/** True when `error` is the bridge's cancelled result. */
export const isCancelled = (error) => error?.name === 'AbortError';

function cancelled(partial) {
  const error = new DOMException('The job was cancelled.', 'AbortError');
  error.partial = partial;
  return error;
}

/**
 * Starts the worker. `onFailure(message)` hears when it cannot start. Arguments that are functions
 * (an export's sink) are passed as comlink proxies; everything else is copied (File objects too).
 */
export function createBridge({ onFailure }) {
  const worker = new Worker(new URL('../worker/index.js', import.meta.url), { type: 'module' });
  worker.addEventListener('error', (event) => onFailure(`The wasm worker could not start: ${event.message || 'see the browser console for details'}.`));
  const remote = Comlink.wrap(worker);
  let nextJob = 1;

  async function run(method, args = [], { signal, onProgress } = {}) {
    if (signal?.aborted) throw cancelled();
    const id = nextJob++;
    let settled = false;
    const progress = onProgress && Comlink.proxy((done, total, detail) => {
      if (!settled && !signal?.aborted) onProgress(done, total, detail);
    });
    const cancel = () => remote.cancel(id);
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      const wired = args.map((a) => (typeof a === 'function' ? Comlink.proxy(a) : a));
      const result = await remote.run(method, id, progress, ...wired);
      if (result?.cancelled === true) throw cancelled(result.partial);
      return result;
    } finally {
      settled = true;
      signal?.removeEventListener('abort', cancel);
    }
  }

  return { run };
}
