// The wasm module lives here, in a module Web Worker, so the page never freezes. The worker keeps the
// open File objects and reads them lazily: the header first, then only the bytes of the tensor asked for
// (Blob.slice), never a whole file. main.js calls the functions of `api` through comlink.
import * as Comlink from 'comlink';
import { relaxedSimd } from 'wasm-feature-detect';
import glueSource from './pkg/quant_playground.js?raw';
import wasmUrl from './pkg/quant_playground_bg.wasm?url';
import relaxedGlueSource from './pkg-relaxed/quant_playground.js?raw';
import relaxedWasmUrl from './pkg-relaxed/quant_playground_bg.wasm?url';
import { evaluateExample, fetchExampleBytes, loadExampleModel, predictDigit } from './example-model.js';

/** Tensors above this many f32 bytes get a memory hint when the module stops (wasm32 has at most 4 GiB). */
const LARGE_F32_BYTES = 512 * 2 ** 20;

let compiled; // WebAssembly.Module, compiled once per page load
let build; // { glue, wasm }: the relaxed-SIMD build where the browser validates its opcodes, else SIMD128
let qp; // the exports of the current instance (wasm-bindgen glue namespace)
let ready; // promise of the current instance
let lastPanic = ''; // what console_error_panic_hook printed during the current call
let exampleModel = null; // promise of the digits example's ExampleModel in the current instance

const files = new Map(); // id → { file: File, name, index, siblings: Map(name → File) }
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
  exampleModel = null; // it lived in the old instance's memory
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
    const offsets = Float64Array.from(pieces, (p) => p.offset);
    const lengths = Float64Array.from(pieces, (p) => p.bytes.length);
    const bytes = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const p of pieces) {
      bytes.set(p.bytes, at);
      at += p.bytes.length;
    }
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

/** Hugging Face's shard names: model-00001-of-00003.safetensors → { stem: 'model', part: 1, total: 3 }. */
function shardName(name) {
  const match = /^(.*)-(\d+)-of-(\d+)\.safetensors$/.exec(name);
  return match ? { stem: match[1], part: Number(match[2]), total: Number(match[3]), of: match[3] } : null;
}

/**
 * Several files dropped or chosen at once become models: model.safetensors.index.json with the shards it
 * names; complete sets of NAME-0000i-of-0000N.safetensors shards without an index; a file with its
 * external data (ONNX: TensorInfo.data_file names the sibling). Every other file opens on its own. The
 * format of each is chosen by its content (the core sniffs). Returns { opened: [{ id, name, size,
 * lastModified, members, index }], errors: [{ file, message }] }: one file's failure never stops the others.
 */
async function openBatch(list) {
  const parsed = new Map(); // name → { file, index } or { file, error }
  for (const file of list) {
    try {
      parsed.set(file.name, { file, index: await readIndex(file) });
    } catch (error) {
      if (error instanceof WasmStopped) throw error;
      parsed.set(file.name, { file, error });
    }
  }
  const consumed = new Set(); // names taken as parts of another file's model
  const models = []; // { name, file, index, siblings: Map(name → File), members }
  const errors = [];
  const fail = (file, message) => errors.push({ file, message: message.startsWith(`${file}:`) ? message : `${file}: ${message}` });
  const partError = (part) => (parsed.get(part).error?.message ?? String(parsed.get(part).error));

  // 1. An index JSON and the shards it names.
  for (const [name, p] of parsed) {
    if (p.index?.format !== 'safetensors-index') continue;
    const shards = p.index.metadata.filter(([k]) => k === 'shard').map(([, v]) => baseName(v));
    shards.forEach((s) => consumed.add(s));
    consumed.add(name);
    const missing = shards.filter((s) => !parsed.has(s));
    if (missing.length) {
      fail(name, `the weight map names ${missing.length === 1 ? 'a shard' : 'shards'} that ${missing.length === 1 ? 'was' : 'were'} not opened with it: ${missing.join(', ')}. Open the index and ${shards.length === 2 ? 'both' : `all ${shards.length}`} shards together.`);
      continue;
    }
    const broken = shards.find((s) => parsed.get(s).error);
    if (broken) {
      fail(name, `shard ${partError(broken)}`);
      continue;
    }
    try {
      const mapBytes = await readBytes(p.file, 0, p.file.size);
      const shardIndexes = JSON.stringify(shards.map((s) => parsed.get(s).index));
      const index = JSON.parse(await callWasm(`${name}: merging its shards`, (m) => m.merge_shards(name, mapBytes, shardIndexes)));
      models.push({ name, file: p.file, index, siblings: new Map(shards.map((s) => [s, parsed.get(s).file])), members: [name, ...shards] });
    } catch (error) {
      if (error instanceof WasmStopped) throw error;
      fail(name, error.message);
    }
  }

  // 2. A complete set of shards without an index; an incomplete set opens shard by shard.
  const sets = new Map();
  for (const [name, p] of parsed) {
    const shard = shardName(name);
    if (!shard || consumed.has(name) || shard.total < 2 || p.index?.format === 'safetensors-index') continue;
    const key = `${shard.stem}-of-${shard.total}`;
    if (!sets.has(key)) sets.set(key, { ...shard, names: [] });
    sets.get(key).names.push(name);
  }
  for (const set of sets.values()) {
    const parts = new Set(set.names.map((n) => shardName(n).part));
    const complete = parts.size === set.total && [...parts].every((i) => i >= 1 && i <= set.total);
    if (!complete) continue;
    set.names.sort((a, b) => shardName(a).part - shardName(b).part);
    set.names.forEach((n) => consumed.add(n));
    const label = `${set.stem}-*-of-${set.of}.safetensors`; // one name for the set, as a shell glob would
    const broken = set.names.find((n) => parsed.get(n).error);
    if (broken) {
      fail(label, `shard ${partError(broken)}`);
      continue;
    }
    try {
      const shardIndexes = JSON.stringify(set.names.map((n) => parsed.get(n).index));
      const index = JSON.parse(await callWasm(`${label}: merging its shards`, (m) => m.merge_shards(label, new Uint8Array(), shardIndexes)));
      const siblings = new Map(set.names.map((n) => [n, parsed.get(n).file]));
      const newest = set.names.map((n) => parsed.get(n).file).reduce((a, b) => (a.lastModified >= b.lastModified ? a : b));
      models.push({ name: label, file: newest, index, siblings, members: set.names, size: index.file_len });
    } catch (error) {
      if (error instanceof WasmStopped) throw error;
      fail(label, error.message);
    }
  }

  // 3. Files whose tensors live in sibling files (ONNX external data), and files on their own.
  for (const [name, p] of parsed) {
    if (consumed.has(name) || !p.index) continue;
    const wanted = [...new Set(p.index.tensors.map((t) => t.data_file).filter(Boolean).map(baseName))];
    wanted.forEach((w) => consumed.add(w));
    const missing = wanted.filter((w) => !parsed.has(w));
    if (missing.length) {
      fail(name, `its tensor data is stored in ${missing.join(', ')}, which ${missing.length === 1 ? 'was' : 'were'} not opened with it. Open ${name} and ${missing.join(', ')} together (select both, or drop both at once).`);
      continue;
    }
    models.push({ name, file: p.file, index: p.index, siblings: new Map(wanted.map((w) => [w, parsed.get(w).file])), members: [name, ...wanted] });
  }
  for (const [name, p] of parsed) {
    if (p.error && !consumed.has(name)) fail(name, p.error.message ?? String(p.error));
  }
  const opened = models.map((m) => {
    const id = nextFileId++;
    files.set(id, { file: m.file, name: m.name, index: m.index, siblings: m.siblings });
    const size = m.size ?? m.members.reduce((total, n) => total + (parsed.get(n)?.file.size ?? 0), 0);
    return { id, name: m.name, size, lastModified: m.file.lastModified, members: m.members, index: m.index };
  });
  return { opened, errors };
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

  /**
   * The embedded digits example (www/examples): the accuracy table of every configuration as
   * `quant-playground eval --json` prints it, plus the worst configuration's confusion matrix and mistakes.
   */
  async digitsExample() {
    await ready;
    exampleModel ??= loadExampleModel(qp);
    const model = await exampleModel;
    return callWasm('the digits example', () => evaluateExample(model, { repeats: 3, misclassified: 8 }));
  },

  /** One drawn digit (64 values in [0, 1]) through each of `configs`: [{ config, class, probabilities }]. */
  async predictDigit(configs, pixels) {
    await ready;
    exampleModel ??= loadExampleModel(qp);
    const model = await exampleModel;
    return callWasm('the digits example', () => configs.map((c) => predictDigit(model, c, pixels)));
  },

  /** The bytes of the digits example's weights (the page opens them in the tensor browser). */
  async digitsFile() {
    const bytes = await fetchExampleBytes('model');
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  /** The synthetic example file's bytes (the page wraps them in a File and opens it like a dropped one). */
  async exampleFile(seed) {
    const bytes = await callWasm(`example ${seed}`, (m) => m.example_file(seed));
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  /** The synthetic activation distributions the core knows (names for `syntheticActivations`). */
  async syntheticDistributions() {
    return JSON.parse(await callWasm('synthetic distributions', (m) => m.synthetic_distributions()));
  },

  /** A seeded synthetic activation set: a .safetensors file's bytes, one F32 tensor `activations` [rows, 768]. */
  async syntheticActivations(distribution, rows, seed) {
    const bytes = await callWasm(`synthetic ${distribution} activations`, (m) => m.synthetic_activations(distribution, rows, seed));
    return Comlink.transfer(bytes, [bytes.buffer]);
  },

  /** Opens a file: parses its header and keeps the File for later reads. */
  async open(file) {
    const { opened, errors } = await openBatch([file]);
    if (errors.length) throw new Error(errors[0].message);
    return { id: opened[0].id, index: opened[0].index };
  },

  /** Opens files chosen or dropped together (shards, a model and its external data): see openBatch. */
  async openFiles(list) {
    return openBatch(list);
  },

  /** The byte length of the module's memory (WebAssembly.Memory grows and never shrinks: a high-water mark). */
  async memoryBytes() {
    return callWasm('memory size', (m) => m.wasm_memory_bytes());
  },

  close(id) {
    files.delete(id);
    if (lastTensor?.id === id) lastTensor = null;
  },

  /** The calibration methods the core can quantize with (the page lists only these). */
  async calibrationMethods() {
    return JSON.parse(await callWasm('calibration methods', (m) => m.calibration_methods()));
  },

  /**
   * FP32 | FP16 | BF16 | one row per spec, for one tensor of an open file (see report.rs for a row). Each
   * row also carries time_ms: how long its own call into the module took here, in the worker.
   */
  async compare(id, tensorName, specs, method = 'minmax') {
    const { file, info, bytes, hint } = await tensorBytes(id, tensorName);
    const context = `${file.name}: tensor '${tensorName}'`;
    const infoJson = JSON.stringify(info);
    const elements = info.shape.reduce((a, b) => a * b, 1);
    const rows = [];
    for (const format of ['fp32', 'fp16', 'bf16']) {
      rows.push(await timed(context, (m) => m.float_tensor(infoJson, bytes, format), hint, elements));
    }
    for (const spec of specs) {
      rows.push(await timed(context, (m) => m.quantize_tensor_calibrated(infoJson, bytes, JSON.stringify(spec), method), hint, elements));
    }
    return rows;
  },

  /**
   * What the pictures need for one tensor: the value histogram with the calibration ranges, the error
   * histogram under `errorSpec`, and every slot's scale under `spec`, with `method`'s ranges.
   */
  async explore(id, tensorName, { spec, errorSpec, method = 'minmax', bins }) {
    const { file, info, bytes, hint } = await tensorBytes(id, tensorName);
    const context = `${file.name}: tensor '${tensorName}'`;
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
   * The Pareto view's rows: every spec of the core's sweep for this tensor, a few per call so that
   * progress(done, total) can report and a newer request (sweepToken) can stop an older one.
   */
  async sweep(id, tensorName, token, progress) {
    sweepToken = token;
    const { file, info, bytes, hint } = await tensorBytes(id, tensorName);
    const context = `${file.name}: tensor '${tensorName}'`;
    const infoJson = JSON.stringify(info);
    const specs = JSON.parse(await callWasm(context, (m) => m.sweep_specs(JSON.stringify(info.shape))));
    const rows = [];
    for (let i = 0; i < specs.length; i += SWEEP_CHUNK) {
      if (sweepToken !== token) return null; // superseded
      const chunk = JSON.stringify(specs.slice(i, i + SWEEP_CHUNK));
      rows.push(...JSON.parse(await callWasm(context, (m) => m.sweep_tensor(infoJson, bytes, chunk), hint)));
      progress?.(rows.length, specs.length)?.catch?.(() => {}); // not awaited: no round trip per chunk
      await yieldToMessages();
    }
    // The front over all rows, not per chunk.
    const points = JSON.stringify(rows.map((r) => [r.bits_per_weight, r.sqnr_db]));
    const front = JSON.parse(await callWasm(context, (m) => m.pareto_front(points)));
    rows.forEach((r, i) => { r.pareto = front[i]; });
    return rows;
  },

  /**
   * One spec (and calibration method) over the named tensors (all float tensors when `names` is empty), reading each lazily and
   * quantizing it in its own call; progress(done, total, name) after each. cancelModel() stops it
   * between tensors. Returns the CLI's `quantize --json` document, with `cancelled` when stopped.
   */
  async runModel(id, names, spec, method, progress) {
    const { name, index } = openEntry(id);
    const file = { name }; // a model of several files reports under its own name
    const token = ++modelToken;
    const chosen = names.length ? names.map((n) => index.tensors.find((t) => t.name === n)).filter(Boolean) : index.tensors.filter(quantizable);
    const skipped = names.length ? [] : index.tensors.filter((t) => !quantizable(t)).map((t) => ({ name: t.name, dtype: t.dtype, reason: 'not a float tensor' }));
    const specJson = JSON.stringify(spec);
    const tensors = [];
    for (const info of chosen) {
      if (modelToken !== token) return { file: file.name, format: index.format, tensors, skipped, cancelled: true };
      const { bytes, hint } = await tensorBytes(id, info.name, { cache: false });
      const row = await timed(`${file.name}: tensor '${info.name}'`, (m) => m.quantize_tensor_calibrated(JSON.stringify(info), bytes, specJson, method), hint);
      tensors.push(row);
      progress?.(tensors.length, chosen.length, info.name)?.catch?.(() => {}); // not awaited: no round trip per tensor
      await yieldToMessages();
    }
    return { file: file.name, format: index.format, tensors, skipped };
  },

  /** Stops a whole-model run after the tensor in flight. */
  cancelModel() {
    modelToken += 1;
  },

  /** A fresh seed from the core (getrandom: the browser's crypto.getRandomValues). */
  async randomSeed() {
    return callWasm('random seed', (m) => m.random_seed());
  },

  /**
   * The calibration panel: `calibrate --json` for one tensor at `bits` and `scheme` (every method, one
   * range for the whole tensor), with the curves the searching methods minimised. The report's own
   * histograms are left here: the Values picture draws the tensor's.
   */
  async calibrate(id, tensorName, bits, scheme) {
    const { file, info, bytes, hint } = await tensorBytes(id, tensorName);
    const json = await callWasm(`${file.name}: tensor '${tensorName}'`, (m) => m.calibrate_tensor(JSON.stringify(info), bytes, bits, scheme, 'all', true), hint);
    const report = JSON.parse(json);
    delete report.details?.histograms;
    return report;
  },

  /**
   * The speed panel: y = W·x for W [n, k] (the tensor, its first axis the output) and x [m, k] from a
   * seeded N(0, 1), by the FP32, INT8 (dynamic, per-row u8 activations) and INT4 (g32) kernels. Each
   * output's error against FP32's comes from the core; each kernel's time is the median per call of
   * SPEED_SAMPLES runs after warm-up, the kernels taking turns so that a busy moment hits all three.
   * progress(done, total) after each run; cancelSpeed() stops between runs.
   */
  async speed(id, tensorName, { m, seed }, progress) {
    const mine = ++speedToken;
    const { file, info, bytes, hint } = await tensorBytes(id, tensorName);
    const context = `${file.name}: tensor '${tensorName}'`;
    const [n, ...rest] = info.shape;
    const k = rest.reduce((a, b) => a * b, 1);
    if (info.shape.length < 2 || !n || !k) throw new Error(`${context}: the speed panel needs a weight of two or more axes, [out, in…]`);
    const objects = [];
    try {
      const kernels = await callWasm(context, (q) => {
        const w = q.tensor_values(JSON.stringify(info), bytes);
        const x = q.gaussian_activations(m, k, seed);
        const f32 = new q.F32Weights(w, n, k);
        objects.push(f32);
        const i8 = q.Int8Weights.quantize(w, n, k);
        objects.push(i8);
        const i4 = q.Int4Weights.quantize(w, n, k, 32, false, false);
        objects.push(i4);
        return [
          { kernel: 'fp32', call: () => f32.matmul(x, m) },
          { kernel: 'int8', call: () => i8.matmul_dynamic(x, m, true) },
          { kernel: 'int4', call: () => i4.matmul_dynamic(x, m) },
        ];
      }, hint);
      // Outputs and warm-up: a few calls each, then how many calls make one run last SPEED_RUN_MS.
      const outputs = {};
      for (const kernel of kernels) {
        await callWasm(context, () => {
          outputs[kernel.kernel] = kernel.call();
          // Warm-up: SPEED_WARMUP calls, or fewer when they take long (the first calls also grow memory).
          let started = performance.now();
          for (let i = 0; i < SPEED_WARMUP && performance.now() - started < 4 * SPEED_RUN_MS; i++) kernel.call();
          // Then as many calls as make SPEED_RUN_MS: how many calls one timed run takes.
          started = performance.now();
          let calls = 0;
          let elapsed = 0;
          do {
            kernel.call();
            calls += 1;
            elapsed = performance.now() - started;
          } while (elapsed < SPEED_RUN_MS);
          kernel.calls = Math.max(1, Math.min(SPEED_MAX_CALLS, Math.ceil(SPEED_RUN_MS / (elapsed / calls))));
          kernel.samples = [];
        }, hint);
        await yieldToMessages();
        if (speedToken !== mine) return { cancelled: true };
      }
      const total = SPEED_SAMPLES * kernels.length;
      for (let s = 0; s < SPEED_SAMPLES; s++) {
        for (const kernel of kernels) {
          await callWasm(context, () => {
            const started = performance.now();
            for (let i = 0; i < kernel.calls; i++) kernel.call();
            kernel.samples.push((performance.now() - started) / kernel.calls);
          }, hint);
          progress?.(s * kernels.length + kernels.indexOf(kernel) + 1, total)?.catch?.(() => {}); // not awaited
          await yieldToMessages();
          if (speedToken !== mine) return { cancelled: true };
        }
      }
      const reference = outputs.fp32;
      let maxAbs = 0;
      for (const v of reference) maxAbs = Math.max(maxAbs, Math.abs(v));
      const ops = 2 * m * n * k;
      const rows = [];
      for (const kernel of kernels) {
        const median_ms = median(kernel.samples);
        const error = kernel.kernel === 'fp32' ? null : JSON.parse(await callWasm(context, (q) => q.output_error(reference, outputs[kernel.kernel])));
        rows.push({ kernel: kernel.kernel, error, median_ms, samples: kernel.samples, calls: kernel.calls, gops: ops / (median_ms * 1e6) });
      }
      for (const r of rows) r.speedup = rows[0].median_ms / r.median_ms;
      rows[0].max_abs_output = maxAbs;
      return { rows, m, n, k, seed, build: qp.kernel_build() };
    } finally {
      for (const o of objects) {
        try {
          o.free();
        } catch {
          // an instance restarted after a trap took its objects with it
        }
      }
    }
  },

  /**
   * The Outputs view: one element y[sample, row] of y = W·x through the static INT8 pipeline, step by step
   * (src/pipeline.rs), and the whole output's error per integer path. W is the tensor [n, k] (its
   * `<prefix>.bias` from the same file is added); x is `rows` rows of a synthetic distribution from `seed`,
   * or the values of an open tensor as rows of k. The result is `quant-playground trace --json`'s.
   */
  async outputsTrace(id, tensorName, { inputs, row, sample, method }) {
    const { file, index } = openEntry(id);
    const { info, bytes, hint } = await tensorBytes(id, tensorName);
    const context = `${file.name}: tensor '${tensorName}'`;
    const [n, ...rest] = info.shape;
    const k = rest.reduce((a, b) => a * b, 1);
    if (info.shape.length < 2 || !n || !k) throw new Error(`${context}: the Outputs view needs a weight of two or more axes, [out, in…]`);
    const biasInfo = tensorName.endsWith('.weight') ? index.tensors.find((t) => t.name === `${tensorName.slice(0, -'.weight'.length)}.bias`) : null;
    // Through tensorBytes: the stored range (a deflated .npz member, a shard, ONNX external data), not byte_len.
    const biasBytes = biasInfo ? (await tensorBytes(id, biasInfo.name, { cache: false })).bytes : null;
    let x;
    let source;
    if (inputs.kind === 'synthetic') {
      x = await callWasm(context, (q) => q.synthetic_inputs(inputs.distribution, inputs.rows, k, inputs.seed));
      source = { kind: 'synthetic', distribution: inputs.distribution, seed: inputs.seed, rows: inputs.rows };
    } else {
      const other = openEntry(inputs.fileId);
      const act = await tensorBytes(inputs.fileId, inputs.tensor, { cache: false });
      x = await callWasm(`${other.file.name}: tensor '${inputs.tensor}'`, (q) => q.tensor_values(JSON.stringify(act.info), act.bytes), act.hint);
      source = { kind: 'file', file: other.file.name, tensor: inputs.tensor, rows: x.length / k };
    }
    const json = await callWasm(context, (q) => {
      const w = q.tensor_values(JSON.stringify(info), bytes);
      const bias = biasInfo ? q.tensor_values(JSON.stringify(biasInfo), biasBytes) : new Float32Array(0);
      return q.trace_outputs(w, n, k, bias, x, sample, row, method, false);
    }, hint);
    return { ...JSON.parse(json), file: file.name, tensor: tensorName, bias_tensor: biasInfo?.name ?? null, inputs: source };
  },

  /**
   * Activation batches: every float tensor of every file given (one array of a .npy, each array of an .npz)
   * is a batch of ONE activation set, calibrated in streaming fashion (calib/batches.rs): three passes, each
   * batch read from its File, used and dropped. The result is `calibrate FILE… --batches --json`'s document.
   */
  async calibrateBatches(list, bits, scheme) {
    const batches = [];
    for (const file of list) {
      const index = await readIndex(file);
      const floats = index.tensors.filter(quantizable);
      if (!floats.length) throw new Error(`${file.name}: no float tensor to calibrate`);
      const outside = floats.find((t) => t.data_file);
      if (outside) throw new Error(`${file.name}: tensor '${outside.name}' is stored in ${outside.data_file}; batches are read from single files (.npy, .npz, .safetensors)`);
      for (const info of floats) batches.push({ file, info });
    }
    const calibrator = await callWasm('activation batches', (q) => new q.BatchCalibrator(bits, scheme, 'all'));
    try {
      for (const pass of ['scan', 'add', 'measure']) {
        for (const { file, info } of batches) {
          const bytes = await readStored(file, info, `${file.name}: tensor '${info.name}'`);
          await callWasm(`${file.name}: tensor '${info.name}'`, (q) => calibrator[pass](q.tensor_values(JSON.stringify(info), bytes)));
          await yieldToMessages();
        }
      }
      const report = JSON.parse(await callWasm('activation batches', () => calibrator.report(false)));
      return { ...report, sources: batches.map(({ file, info }) => ({ file: file.name, tensor: info.name })) };
    } finally {
      try {
        calibrator.free();
      } catch {
        // an instance restarted after a trap took its objects with it
      }
    }
  },

  /** Stops a speed run between two timed runs. */
  cancelSpeed() {
    speedToken += 1;
  },
};

/** Speed panel timing: runs per kernel (≥ 9), warm-up calls, and the least a run lasts on a 0.1 ms clock. */
const SPEED_SAMPLES = 11;
const SPEED_WARMUP = 5;
const SPEED_RUN_MS = 5;
const SPEED_MAX_CALLS = 4096;
let speedToken = 0;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const SWEEP_CHUNK = 7;
let sweepToken = 0;
let modelToken = 0;
// DType::is_quantizable of src/tensor.rs: the floats, and the ggml block types the core dequantizes exactly.
const QUANTIZABLE = new Set(['F64', 'F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q6_K']);
const quantizable = (t) => QUANTIZABLE.has(t.dtype);

/** Lets comlink deliver messages (a cancel) between two calls into the module. */
const yieldToMessages = () => new Promise((resolve) => setTimeout(resolve, 0));

/**
 * Timing. A worker's clock ticks in 0.1 ms steps here (no cross-origin isolation), so a tensor below
 * TIME_REPEAT_BELOW elements is timed the way a benchmark would: one warm-up call (unoptimised code, memory
 * growth), then batches of calls, doubled until a batch lasts TIME_MIN_BATCH_MS, for TIME_BUDGET_MS and at
 * least three batches; the fastest batch's mean per call counts. A larger tensor is timed once.
 */
const TIME_REPEAT_BELOW = 2 ** 20;
const TIME_MIN_BATCH_MS = 1;
const TIME_BUDGET_MS = 10;

/** A call into the module that returns one report row (JSON), with the time it took. */
async function timed(context, fn, hint, elements = Infinity) {
  return callWasm(context, (m) => {
    let started = performance.now();
    let json = fn(m);
    let best = performance.now() - started;
    if (elements < TIME_REPEAT_BELOW) {
      best = Infinity;
      const deadline = performance.now() + TIME_BUDGET_MS;
      let batches = 0; // long enough to count
      for (let n = 1; ; ) {
        started = performance.now();
        for (let i = 0; i < n; i++) json = fn(m);
        const batch = performance.now() - started;
        if (batch >= TIME_MIN_BATCH_MS) {
          best = Math.min(best, batch / n);
          batches += 1;
        } else {
          n *= 2;
        }
        // A busy machine can stall one batch: take at least three, and the fastest.
        if ((performance.now() > deadline && batches >= 3) || batches >= 20 || n > 1 << 16) break;
      }
    }
    return { ...JSON.parse(json), time_ms: best };
  }, hint);
}

/** The last tensor read stays here: the comparison and the pictures of one tensor read its bytes once. */
let lastTensor = null;

/**
 * One tensor's stored bytes (`stored_range()`: compressed for a deflated member, packed varints for ONNX
 * int32_data) from its own file or the sibling its data_file names; the core decodes them.
 */
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

async function tensorBytes(id, tensorName, { cache = true } = {}) {
  const { file, name, index, siblings } = openEntry(id);
  const info = index.tensors.find((t) => t.name === tensorName);
  if (!info) throw new Error(`${name}: no tensor named '${tensorName}'`);
  const f32Bytes = info.shape.reduce((a, b) => a * b, 1) * 4;
  const hint = f32Bytes > LARGE_F32_BYTES
    ? ` It needs ${(f32Bytes / 2 ** 30).toFixed(1)} GiB as f32, and a wasm32 module has at most 4 GiB of memory.`
    : '';
  const named = { name, size: file.size }; // the compare/explore messages name the model, not a shard
  if (lastTensor?.id === id && lastTensor.name === tensorName) return { file: named, info, bytes: lastTensor.bytes, hint };
  const source = info.data_file ? siblings?.get(baseName(info.data_file)) : file;
  if (!source) throw new Error(`${name}: tensor '${tensorName}' is stored in ${info.data_file}, which was not opened with it`);
  const bytes = await readStored(source, info, `${name}: tensor '${tensorName}'`);
  if (cache && bytes.length <= LARGE_F32_BYTES / 2) lastTensor = { id, name: tensorName, bytes };
  return { file: named, info, bytes, hint };
}

// ---- export: a quantized file made here part by part and posted to the page (www/export.js) ------------

let exportToken = 0;
/** Rounds of "the plan needs these bytes" before giving up (formats/mod.rs MAX_ROUNDS). */
const EXPORT_MAX_ROUNDS = 4096;

/** A file opened together with `file` that holds a tensor's bytes (ONNX external data, a shard). */
function siblingFile(file, info) {
  const entry = [...files.values()].find((e) => e.file.name === info.data_file);
  if (!entry) throw new Error(`${file.name}: tensor '${info.name}' is stored in ${info.data_file}; open that file together with this one`);
  return entry.file;
}

/**
 * The core's plan for the export. ONNX QDQ copies the model's skeleton, so it asks for pieces of the file
 * (the head first, then whatever ranges it names); the other formats plan from the index alone.
 */
async function planExport(file, index, { target, spec, method, only }) {
  // ONNX QDQ copies the model's skeleton and a GGUF-to-GGUF export its key-values: both start from the head.
  const fromHead = target === 'onnx-qdq' || (target.startsWith('gguf:') && index.format === 'gguf');
  const pieces = fromHead ? [{ offset: 0, bytes: await readBytes(file, 0, Math.min(file.size, 64 * 1024)) }] : [];
  const args = [JSON.stringify(index), target, JSON.stringify(spec), method, JSON.stringify(only)];
  for (let round = 0; round < EXPORT_MAX_ROUNDS; round++) {
    const offsets = Float64Array.from(pieces, (p) => p.offset);
    const lengths = Float64Array.from(pieces, (p) => p.bytes.length);
    const all = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
    let at = 0;
    for (const p of pieces) {
      all.set(p.bytes, at);
      at += p.bytes.length;
    }
    const session = await callWasm(`${file.name}: planning the export`, (m) => new m.ExportSession(...args, offsets, lengths, all));
    const need = session.need_range();
    if (!need) return session;
    session.free();
    pieces.push({ offset: need[0], bytes: await readBytes(file, need[0], need[1]) });
  }
  throw new Error(`${file.name}: the export plan asked for more than ${EXPORT_MAX_ROUNDS} pieces of the file`);
}

Object.assign(api, {
  /**
   * Writes an export of an open file: `request` = { target (as the CLI's --to), spec, method, only (tensor
   * names, [] for all) }. Each part (header, one per tensor, trailer) goes to `sink(bytes)`, awaited, so
   * neither side holds more than the part in flight; the source is read one tensor's bytes at a time.
   * progress(done, total, name) after each tensor; cancelExport() stops between tensors. Returns the
   * CLI's `export --json` report, or { cancelled: true }.
   */
  async exportFile(id, request, sink, progress) {
    const { file, index } = openEntry(id);
    const token = ++exportToken;
    const context = `${file.name}: export to ${request.target}`;
    const session = await planExport(file, index, request);
    const send = (bytes) => sink(Comlink.transfer(bytes, [bytes.buffer]));
    try {
      await send(await callWasm(context, () => session.header()));
      const sources = JSON.parse(await callWasm(context, () => session.sources()));
      for (let i = 0; i < sources.length; i++) {
        if (exportToken !== token) return { cancelled: true };
        const info = sources[i];
        const [offset, length] = await callWasm(context, () => session.stored_range(i));
        const stored = await readBytes(info.data_file ? siblingFile(file, info) : file, offset, length);
        await send(await callWasm(`${file.name}: tensor '${info.name}'`, () => session.encode(i, stored)));
        progress?.(i + 1, sources.length, info.name)?.catch?.(() => {}); // not awaited: no round trip per tensor
        await yieldToMessages();
      }
      await send(await callWasm(context, () => session.trailer()));
      return JSON.parse(await callWasm(context, () => session.report()));
    } finally {
      try {
        session.free();
      } catch {
        // the instance was restarted after a trap: the session went with it
      }
    }
  },

  /** Stops an export after the tensor in flight. */
  cancelExport() {
    exportToken += 1;
  },
});

Comlink.expose(api);
