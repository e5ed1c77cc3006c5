// A pool of module workers (www/worker/index.js), one wasm instance each, for whole-model work. No
// SharedArrayBuffer: every worker has its own memory and reads its own slices of the same File (File
// objects are cloneable), so the page works on any static host. Worker 0 is the primary: one-shot work
// runs there and it owns the file table; the others mirror it (adoptFile). `each()` spreads a list of
// jobs over all workers and gathers the answers by index, so the result does not depend on the pool's
// size or on which worker finished first. A worker that dies is replaced, its job answers an error,
// and the open files are handed to its successor.
import * as Comlink from 'comlink';

/** Without a `workers=N` in the URL: one per logical core, at most this many (each holds a wasm memory). */
export const DEFAULT_MAX_WORKERS = 8;
/** `workers=N` is taken up to this many. */
export const MAX_WORKERS = 16;

/** The pool's size: `workers=N` of the query when it is a whole number ≥ 1, else the cores, capped. */
export function poolSize(search, cores) {
  const asked = new URLSearchParams(search).get('workers');
  if (asked !== null && /^[1-9]\d*$/.test(asked.trim())) return Math.min(Number(asked), MAX_WORKERS);
  const n = Number.isInteger(cores) && cores > 0 ? cores : 1;
  return Math.min(n, DEFAULT_MAX_WORKERS);
}

/** What a job gets when its worker stopped under it. */
export class WorkerStopped extends Error {
  constructor(message) {
    super(message);
    this.name = 'WorkerStopped';
  }
}

/**
 * Starts `size` workers. `onFailure(message)` hears when the primary cannot start. Returns
 * { size, jobId(), call(index, fn), each(count, …), remember(entries), forget(id) }: `fn(remote)` gets the
 * comlink remote of that worker and its promise is rejected with WorkerStopped if the worker dies first.
 */
export function createPool({ size, onFailure }) {
  const slots = [];
  const files = new Map(); // id → the primary's file entry, handed to every other worker and to successors
  let lastJob = 0; // job ids are unique over the pool (a cancel names one)
  const jobId = () => ++lastJob;
  let module = null; // { module, glue } of the primary: the others start from it (no second fetch or compile)

  function spawn(index) {
    // The name shows in the browser's devtools (and to a test) as which of the pool's workers this is.
    const worker = new Worker(new URL('../worker/index.js', import.meta.url), { type: 'module', name: `worker ${index + 1} of ${size}` });
    const slot = { index, worker, remote: Comlink.wrap(worker), pending: new Set(), ready: null };
    worker.addEventListener('error', (event) => {
      event.preventDefault?.();
      const reason = event.message || 'see the browser console for details';
      if (index === 0 && !module) onFailure(`The wasm worker could not start: ${reason}.`);
      else replace(slot, reason);
    });
    slot.ready = prepare(slot);
    return slot;
  }

  /**
   * The first primary loads and compiles the module; every other worker, and a primary that replaces a dead
   * one, starts from that compiled module (no second fetch or compile). Then each takes the open files.
   */
  async function prepare(slot) {
    if (slot.index === 0 && !module) {
      await slot.remote.run('init', jobId(), undefined);
      module = await slot.remote.run('moduleForPage', jobId(), undefined);
    } else {
      if (!module) await slots[0].ready;
      await slot.remote.run('adoptModule', jobId(), undefined, module);
    }
    for (const [id, entry] of files) await slot.remote.run('adoptFile', jobId(), undefined, id, entry);
  }

  /** The worker stopped (an uncaught error, out of memory): its jobs fail, a fresh worker takes its place. */
  function replace(slot, reason) {
    if (slots[slot.index] !== slot) return; // already replaced
    slot.worker.terminate();
    const stopped = new WorkerStopped(`worker ${slot.index + 1} of ${size} stopped (${reason}); it was restarted with the open files, the other workers' results are kept`);
    for (const reject of slot.pending) reject(stopped);
    slot.pending.clear();
    slots[slot.index] = spawn(slot.index);
  }

  for (let i = 0; i < size; i++) slots.push(spawn(i));

  /** fn(remote) on worker `index` once it is ready; rejected with WorkerStopped when that worker dies first. */
  async function call(index, fn) {
    const slot = slots[index];
    await slot.ready;
    if (slots[index] !== slot) return call(index, fn); // replaced while it started
    return new Promise((resolve, reject) => {
      slot.pending.add(reject);
      fn(slot.remote).then(resolve, reject).finally(() => slot.pending.delete(reject));
    });
  }

  /** Files the primary opened: every other worker gets the same entries under the same ids. */
  async function remember(entries) {
    for (const [id, entry] of entries) files.set(id, entry);
    await Promise.all(slots.slice(1).map((slot, i) => call(i + 1, async (remote) => {
      for (const [id, entry] of entries) await remote.run('adoptFile', jobId(), undefined, id, entry);
    }).catch(() => {}))); // a worker that died meanwhile gets them when it restarts
  }

  function forget(id) {
    files.delete(id);
    for (let i = 1; i < size; i++) call(i, (remote) => remote.run('close', jobId(), undefined, id)).catch(() => {});
  }

  /**
   * Runs jobs 0..count-1 over the pool: `start(jobIndex, workerIndex)` runs one on that worker and
   * resolves with its answer. Jobs are handed out in order, each to the next free worker (the first ones
   * at once, before anything is awaited), once `gate(jobIndex)`, if given, has resolved (a bounded
   * window); `settled(jobIndex, outcome)` hears each answer ({ value } or { error }) as it comes. Once
   * `stop()` is true nothing more is handed out. Resolves when every job handed out has settled.
   */
  /**
   * `besidePrimary`: the jobs run beside the primary's one-shot work on the tensor shown (the comparison,
   * the pictures, the calibration), so with other workers they go to those only: no instance then holds
   * more than one whole tensor at a time, the memory bound of one worker (tests/e2e/bigfile.test.mjs).
   */
  async function each(count, { start, settled, stop = () => false, gate = null, besidePrimary = false }) {
    let next = 0;
    const work = async (index) => {
      while (!stop() && next < count) {
        const job = next++;
        if (gate) {
          await gate(job);
          if (stop()) return;
        }
        let outcome;
        try {
          outcome = { value: await start(job, index) };
        } catch (error) {
          outcome = { error };
        }
        await settled(job, outcome);
      }
    };
    const indices = slots.map((_, index) => index).filter((index) => !(besidePrimary && slots.length > 1 && index === 0));
    await Promise.all(indices.map((index) => work(index)));
  }

  return {
    size,
    jobId,
    call,
    each,
    remember,
    forget,
  };
}
