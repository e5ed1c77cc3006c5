// The wasm module lives here, in a module Web Worker, so the page never freezes. This file is the worker's
// core: the instance (restarted after a trap), the table of open files (read lazily: the header first,
// then only the bytes of the tensor asked for, Blob.slice, never a whole file) and the one job loop.
// The domains (one file each) are merged into one comlink API that the page reaches through
// www/app/bridge.js: run(method, jobId, progress, ...args) and cancel(jobId). The page runs several of these
// workers (www/app/pool.js): the others start from the first one's compiled module (adoptModule) and mirror
// its file table under the same ids (adoptFile), each reading its own slices of the same File objects.
import * as Comlink from 'comlink';
import { relaxedSimd } from 'wasm-feature-detect';
import glueSource from '../pkg/quant_playground.js?raw';
import wasmUrl from '../pkg/quant_playground_bg.wasm?url';
import relaxedGlueSource from '../pkg-relaxed/quant_playground.js?raw';
import relaxedWasmUrl from '../pkg-relaxed/quant_playground_bg.wasm?url';
import calibration from './calibration.js';
import compare from './compare.js';
import example from './example.js';
import exporter from './export.js';
import files from './files.js';
import lesson from './lesson.js';
import model from './model.js';
import outputs from './outputs.js';
import ptq from './ptq.js';
import speed from './speed.js';
import sweep from './sweep.js';
import theirs from './theirs.js';

const DOMAINS = [files, compare, calibration, speed, outputs, model, exporter, example, lesson, ptq, sweep, theirs];

/** Tensors above this many f32 bytes get a memory hint when the module stops (wasm32 has at most 4 GiB). */
const LARGE_F32_BYTES = 512 * 2 ** 20;

let compiled; // WebAssembly.Module, compiled once per page load
let build; // { glue, wasm }: the relaxed-SIMD build where the browser validates its opcodes, else SIMD128
let qp; // the exports of the current instance (wasm-bindgen glue namespace)
let ready; // promise of the current instance
let lastPanic = ''; // what console_error_panic_hook printed during the current call
const onRestart = []; // what a domain keeps in the instance's memory forgets it here

// A Rust panic (and an allocation failure) aborts the instance with a trap. The panic hook prints the
// message with console.error just before; keep it, it says far more than "unreachable".
const consoleError = console.error.bind(console);
console.error = (...args) => {
  const text = args.map(String).join(' ');
  if (text.startsWith('panicked at')) {
    // "panicked at src/x.rs:1:2:\nmessage\n\nStack: …" → "Rust panic: message"
    const [where, ...message] = text.split('\n\nStack')[0].split('\n');
    lastPanic = `Rust panic: ${message.join(' ').trim() || where}`;
  }
  consoleError(...args);
};

/**
 * A fresh instance of the module. The wasm-bindgen glue keeps its instance in module-level variables and
 * has no way back after a trap, so each instance evaluates its own copy of the glue (a blob: module) and
 * is handed the module compiled at load time, which needs no request.
 */
async function newInstance() {
  // Two builds of the same crate (scripts/build-wasm.sh); each glue belongs to its own module. Only the
  // chosen one is fetched. wasm-feature-detect validates a tiny module with a relaxed opcode, no request.
  build ??= (await relaxedSimd()) ? { glue: relaxedGlueSource, wasm: relaxedWasmUrl } : { glue: glueSource, wasm: wasmUrl };
  if (!compiled) {
    const response = await fetch(build.wasm);
    if (!response.ok) throw new Error(`could not load the wasm module (${response.status} ${response.statusText})`);
    compiled = response.headers.get('content-type')?.startsWith('application/wasm')
      ? await WebAssembly.compileStreaming(response)
      : await WebAssembly.compile(await response.arrayBuffer());
  }
  const url = URL.createObjectURL(new Blob([build.glue], { type: 'text/javascript' }));
  try {
    const glue = await import(/* @vite-ignore */ url);
    await glue.default({ module_or_path: compiled });
    return glue;
  } finally {
    URL.revokeObjectURL(url);
  }
}

function start() {
  ready = newInstance().then((glue) => {
    qp = glue;
  });
  return ready;
}

/** After a trap: the glue's own reset when it was built with one (frees the old memory), else a fresh copy. */
function restart() {
  for (const forget of onRestart) forget();
  if (typeof qp?.__wbg_reset_state === 'function') {
    qp.__wbg_reset_state();
    return ready;
  }
  return start();
}

export class WasmStopped extends Error {
  constructor(message) {
    super(message);
    this.name = 'WasmStopped';
  }
}

/**
 * Runs fn(qp). The module's own errors are plain Errors with a human message and pass through. Anything
 * else (a RuntimeError trap such as "unreachable", a RangeError for a stack overflow) leaves the instance
 * unusable: start a new one, then report what happened with `context` in front.
 */
async function callWasm(context, fn, hint = '') {
  await (ready ?? start());
  lastPanic = '';
  try {
    return fn(qp);
  } catch (error) {
    if (error instanceof Error && error.name === 'Error') throw error;
    const detail = lastPanic || `${error?.name ?? 'Error'}: ${error?.message ?? error}`;
    await restart();
    throw new WasmStopped(`${context} stopped the wasm module (${detail}).${hint} The module was restarted; what was loaded is still open.`);
  }
}

/** Frees a wasm-bindgen object; an instance restarted after a trap took its objects with it. */
function free(object) {
  try {
    object?.free();
  } catch {
    // gone with the old instance
  }
}

// ---- the file table -------------------------------------------------------------------------------

const openFiles = new Map(); // id → { file: File, name, index, siblings: Map(name → File) }
let nextFileId = 1;
/** The last tensor read stays here: the comparison, the pictures and the calibration of one tensor read its bytes once. */
let lastTensor = null;

async function readBytes(file, start, length) {
  try {
    return new Uint8Array(await file.slice(start, start + length).arrayBuffer());
  } catch (error) {
    throw new Error(
      `${file.name}: could not read bytes ${start}–${start + length} (was the file moved or changed since it was opened?): ${error.message}`,
    );
  }
}

/** Pieces of a file ({ offset, bytes }) as the core's piece protocol takes them: offsets, lengths, bytes. */
function joinPieces(pieces) {
  const offsets = Float64Array.from(pieces, (p) => p.offset);
  const lengths = Float64Array.from(pieces, (p) => p.bytes.length);
  const bytes = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
  let at = 0;
  for (const p of pieces) {
    bytes.set(p.bytes, at);
    at += p.bytes.length;
  }
  return [offsets, lengths, bytes];
}

/**
 * A file's index by the piece protocol of src/formats/mod.rs: the first and the last bytes, then whatever
 * the parser asks for ({"need_bytes": N}: the first N bytes; {"need_range": [offset, length]}: that slice
 * too), until it answers with the index. Only header bytes are read, whatever the file's size.
 */
async function readIndex(file) {
  const [first, tail, maxRounds] = await callWasm(file.name, (m) => [m.first_read_bytes(), m.tail_read_bytes(), m.max_index_rounds()]);
  const pieces = [{ offset: 0, bytes: await readBytes(file, 0, Math.min(file.size, first)) }];
  const tailStart = Math.max(pieces[0].bytes.length, file.size - tail);
  if (tailStart < file.size) pieces.push({ offset: tailStart, bytes: await readBytes(file, tailStart, file.size - tailStart) });
  for (let round = 0; round <= maxRounds; round++) {
    const [offsets, lengths, bytes] = joinPieces(pieces);
    const answer = await callWasm(`${file.name}: reading the header`, (m) => m.parse_index_pieces(file.name, file.size, offsets, lengths, bytes));
    const parsed = JSON.parse(answer);
    if (parsed.need_bytes !== undefined) {
      // The parser checks lengths against the file's; a request that does not grow the head would loop.
      if (parsed.need_bytes <= pieces[0].bytes.length || parsed.need_bytes > file.size) {
        throw new Error(`${file.name}: malformed file: the header needs ${parsed.need_bytes} bytes but the file has ${file.size}`);
      }
      pieces[0] = { offset: 0, bytes: await readBytes(file, 0, parsed.need_bytes) };
    } else if (parsed.need_range !== undefined) {
      const [offset, length] = parsed.need_range;
      if (pieces.some((p) => p.offset === offset && p.bytes.length >= length) || offset + length > file.size) {
        throw new Error(`${file.name}: malformed file: the header asks again for bytes ${offset}–${offset + length} of ${file.size}`);
      }
      pieces.push({ offset, bytes: await readBytes(file, offset, length) });
    } else {
      return parsed;
    }
  }
  throw new Error(`${file.name}: malformed file: its header still needed more bytes after ${maxRounds} reads`);
}

/** The last part of a path (a data_file may name a sub-folder; a dropped File has a bare name). */
const baseName = (name) => name.split(/[\\/]/).pop();

function addEntry(entry) {
  const id = nextFileId++;
  openFiles.set(id, entry);
  return id;
}

function openEntry(id) {
  const entry = openFiles.get(id);
  if (!entry) throw new Error(`file #${id} is not open`);
  return entry;
}

function closeEntry(id) {
  openFiles.delete(id);
  if (lastTensor?.id === id) lastTensor = null;
}

/**
 * A tensor's stored bytes from the file that holds them: its stored range, which is not `byte_len` when the
 * bytes are compressed (a deflated .npz member) or varint-packed (ONNX int32_data); the core decodes them.
 */
async function readStored(source, info, context) {
  const [offset, length] = await callWasm(context, (m) => m.tensor_stored_range(JSON.stringify(info)));
  if (offset + length > source.size) {
    throw new Error(`${source.name}: tensor '${info.name}' needs bytes ${offset}–${offset + length} but the file is ${source.size} bytes (truncated?)`);
  }
  return readBytes(source, offset, length);
}

/**
 * The stored bytes of a tensor that runs over several files (a TF.js weight crossing a shard) or ranges (a
 * GPTQ / AWQ Linear: qweight, qzeros, scales): its parts (the core's tensor_file_parts), each a slice of
 * its file (`own`, the tensor's own file, for a part whose file is null), read as one lazy Blob.
 */
async function readSplit(siblings, own, info, context) {
  const parts = JSON.parse(await callWasm(context, (m) => m.tensor_file_parts(JSON.stringify(info))));
  const slices = parts.map(({ file, offset, len }) => {
    const source = file == null ? own : siblings?.get(baseName(file));
    if (!source) throw new Error(`${context} is stored in ${file}, which was not opened with it`);
    if (offset + len > source.size) throw new Error(`${source.name}: ${context} needs bytes ${offset}–${offset + len} but the file is ${source.size} bytes (truncated?)`);
    return source.slice(offset, offset + len);
  });
  const joined = new Blob(slices);
  return readBytes(joined, 0, joined.size);
}

/** One tensor of an open file: { file: { name, size }, info, bytes, hint, context }, from its own file or the sibling its data_file names. */
async function tensorBytes(id, tensorName, { cache = true } = {}) {
  const { file, name, index, siblings } = openEntry(id);
  const info = index.tensors.find((t) => t.name === tensorName);
  if (!info) throw new Error(`${name}: no tensor named '${tensorName}'`);
  const f32Bytes = info.shape.reduce((a, b) => a * b, 1) * 4;
  const hint = f32Bytes > LARGE_F32_BYTES
    ? ` It needs ${(f32Bytes / 2 ** 30).toFixed(1)} GiB as f32, and a wasm32 module has at most 4 GiB of memory.`
    : '';
  const named = { name, size: file.size }; // the messages name the model, not a shard
  const context = `${name}: tensor '${tensorName}'`;
  if (lastTensor?.id === id && lastTensor.name === tensorName) return { file: named, info, bytes: lastTensor.bytes, hint, context };
  const source = info.data_file ? siblings?.get(baseName(info.data_file)) : file;
  if (!source) throw new Error(`${name}: tensor '${tensorName}' is stored in ${info.data_file}, which was not opened with it`);
  const bytes = info.storage?.kind === 'split' ? await readSplit(siblings, source, info, context) : await readStored(source, info, context);
  if (cache && bytes.length <= LARGE_F32_BYTES / 2) lastTensor = { id, name: tensorName, bytes };
  return { file: named, info, bytes, hint, context };
}

// ---- the one job loop -----------------------------------------------------------------------------

/** Lets comlink deliver messages (a cancel) between two calls into the module. */
const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

const CANCELLED = Symbol('cancelled');
const jobs = new Map(); // job id → job

/**
 * What a method gets as its first argument. A long method calls `await job.step(done, total, detail)` after
 * each piece of work: it reports progress (not awaited: no round trip per piece), lets messages in, and
 * ends the job when the page cancelled it. `job.partial` is what the page gets back with a cancel.
 */
function newJob(id, progress) {
  const job = {
    cancelled: false,
    partial: undefined,
    async step(done, total, detail) {
      progress?.(done, total, detail)?.catch?.(() => {});
      await yieldToMessages();
      if (job.cancelled) throw CANCELLED;
    },
  };
  jobs.set(id, job);
  return job;
}

const core = {
  callWasm,
  free,
  onRestart: (forget) => onRestart.push(forget),
  ready: () => ready ?? start(),
  instance: () => qp,
  files: { add: addEntry, get: openEntry, close: closeEntry, all: () => openFiles.values() },
  readBytes,
  readIndex,
  readStored,
  joinPieces,
  baseName,
  transfer: (bytes) => Comlink.transfer(bytes, [bytes.buffer]),
  tensorBytes,
  WasmStopped,
};

/** What the instance itself answers. */
const instance = {
  /** Loads the module; returns which kernel build runs. */
  async init() {
    await core.ready();
    return { kernel: qp.kernel_build() };
  },

  /** The compiled module and its glue, for the page's own instance of the pure format functions (app/formats.js). */
  async moduleForPage() {
    await core.ready();
    return { module: compiled, glue: build.glue };
  },

  /**
   * A worker of the pool (www/app/pool.js) starts from the primary's compiled module and glue (moduleForPage):
   * no second fetch or compile, and the same build whatever this worker would detect.
   */
  adoptModule({ module, glue }) {
    if (!compiled) {
      compiled = module;
      build = { glue, wasm: null };
    }
    return core.ready().then(() => ({ kernel: qp.kernel_build() }));
  },

  /** Entries of the file table ([id, { file, name, index, siblings }]) for the pool's other workers. */
  fileEntries: (ids) => ids.map((id) => [id, openEntry(id)]),

  /** Another worker's file under the same id: this worker reads its own slices of the same File. */
  adoptFile(id, entry) {
    openFiles.set(id, entry); // the whole entry as the primary holds it (File objects, siblings and all)
    nextFileId = Math.max(nextFileId, id + 1);
  },

  /** The byte length of the module's memory (WebAssembly.Memory grows and never shrinks: a high-water mark). */
  memoryBytes: () => callWasm('memory size', (m) => m.wasm_memory_bytes()),

  /** A fresh seed from the core (getrandom: the browser's crypto.getRandomValues). */
  randomSeed: () => callWasm('random seed', (m) => m.random_seed()),
};

const methods = Object.assign({}, ...DOMAINS.map((domain) => domain(core)));
for (const [name, fn] of Object.entries(instance)) methods[name] = (job, ...args) => fn(...args);

Comlink.expose({
  /**
   * Runs one method of the domains: method(job, ...args). A cancelled job answers { cancelled: true, partial }
   * (the bridge turns it into its AbortError); any other failure rejects with the method's error.
   */
  async run(method, id, progress, ...args) {
    const fn = methods[method];
    if (typeof fn !== 'function') throw new Error(`the worker has no method '${method}'`);
    const job = newJob(id, progress);
    try {
      return await fn(job, ...args);
    } catch (error) {
      if (error === CANCELLED) return { cancelled: true, partial: job.partial };
      throw error;
    } finally {
      jobs.delete(id);
    }
  },

  /** Stops job `id` at its next step (a job already finished has nothing to stop). */
  cancel(id) {
    const job = jobs.get(id);
    if (job) job.cancelled = true;
  },
});
