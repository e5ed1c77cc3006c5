// The wasm module lives here, in a module Web Worker, so the page never freezes. The worker keeps the
// open File objects and reads them lazily: the header first, then only the bytes of the tensor asked for
// (Blob.slice), never a whole file. main.js calls the functions of `api` through comlink.
import * as Comlink from 'comlink';
import glueSource from './pkg/quant_playground.js?raw';
import wasmUrl from './pkg/quant_playground_bg.wasm?url';

/** Tensors above this many f32 bytes get a memory hint when the module stops (wasm32 has at most 4 GiB). */
const LARGE_F32_BYTES = 512 * 2 ** 20;

let compiled; // WebAssembly.Module, compiled once per page load
let qp; // the exports of the current instance (wasm-bindgen glue namespace)
let ready; // promise of the current instance
let lastPanic = ''; // what console_error_panic_hook printed during the current call

const files = new Map(); // id → { file: File, index }
let nextFileId = 1;

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
  if (!compiled) {
    const response = await fetch(wasmUrl);
    if (!response.ok) throw new Error(`could not load the wasm module (${response.status} ${response.statusText})`);
    compiled = response.headers.get('content-type')?.startsWith('application/wasm')
      ? await WebAssembly.compileStreaming(response)
      : await WebAssembly.compile(await response.arrayBuffer());
  }
  const url = URL.createObjectURL(new Blob([glueSource], { type: 'text/javascript' }));
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
  if (typeof qp?.__wbg_reset_state === 'function') {
    qp.__wbg_reset_state();
    return ready;
  }
  return start();
}

class WasmStopped extends Error {
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
  await ready;
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

async function readBytes(file, start, length) {
  try {
    return new Uint8Array(await file.slice(start, start + length).arrayBuffer());
  } catch (error) {
    throw new Error(
      `${file.name}: could not read bytes ${start}–${start + length} (was the file moved or changed since it was opened?): ${error.message}`,
    );
  }
}

/** The header first, then more of the file only when the header says it is longer. */
async function readIndex(file) {
  let want = Math.min(file.size, await callWasm(file.name, (m) => m.first_read_bytes()));
  for (;;) {
    const prefix = await readBytes(file, 0, want);
    const parsed = JSON.parse(await callWasm(`${file.name}: reading the header`, (m) => m.parse_index(file.name, prefix, file.size)));
    if (parsed.need_bytes === undefined) return parsed;
    if (parsed.need_bytes <= want || parsed.need_bytes > file.size) {
      throw new Error(`${file.name}: malformed file: the header needs ${parsed.need_bytes} bytes but the file has ${file.size}`);
    }
    want = parsed.need_bytes;
  }
}

function openEntry(id) {
  const entry = files.get(id);
  if (!entry) throw new Error(`file #${id} is not open`);
  return entry;
}

const api = {
  /** Loads the module; returns which kernel build runs. */
  async init() {
    await (ready ?? start());
    return { kernel: qp.kernel_build() };
  },

  /** The synthetic example file's bytes (the page wraps them in a File and opens it like a dropped one). */
  async exampleFile(seed) {
    const bytes = await callWasm(`example ${seed}`, (m) => m.example_file(seed));
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  /** Opens a file: parses its header and keeps the File for later reads. */
  async open(file) {
    const index = await readIndex(file);
    const id = nextFileId++;
    files.set(id, { file, index });
    return { id, index };
  },

  close(id) {
    files.delete(id);
  },

  /** FP32 | FP16 | BF16 | one row per spec, for one tensor of an open file (see report.rs for a row). */
  async compare(id, tensorName, specs) {
    const { file, index } = openEntry(id);
    const info = index.tensors.find((t) => t.name === tensorName);
    if (!info) throw new Error(`${file.name}: no tensor named '${tensorName}'`);
    const bytes = await readBytes(file, info.offset, info.byte_len);
    const f32Bytes = info.shape.reduce((a, b) => a * b, 1) * 4;
    const hint = f32Bytes > LARGE_F32_BYTES
      ? ` It needs ${(f32Bytes / 2 ** 30).toFixed(1)} GiB as f32, and a wasm32 module has at most 4 GiB of memory.`
      : '';
    const json = await callWasm(
      `${file.name}: tensor '${tensorName}'`,
      (m) => m.compare_tensor(JSON.stringify(info), bytes, JSON.stringify(specs)),
      hint,
    );
    return JSON.parse(json);
  },
};

Comlink.expose(api);
