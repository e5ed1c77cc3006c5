// The accuracy table of the embedded PTQ models as the CLI makes them: `quant-playground ptq` quantizes
// (its activations from onnxruntime-web, scripts/ort_runner.mjs), and each model is measured by the very
// code the page runs (www/worker/ptq.js over onnxruntime-web's Node entry, the core's output_error from
// www/pkg), so the page's table and this one can be compared number for number (tests/e2e/ptq.test.mjs).
//
// Usage: node scripts/ptq_table.mjs --cli target/release/quant-playground [--only textline-cls|paraphrase-minilm]
//        [--methods minmax,percentile,...] [--json OUT.json] [--node-errors DIR]
// --node-errors DIR: each static variant also gets every quantized node's own output SQNR against FP32
// (the node → tensor map of the CLI's --json report, measured by the page's ptqMeasureNodeErrors), and
// its model is kept as DIR/<model key>.<variant>.onnx (scripts/ptq_node_errors.py takes it to ORT's own tool).
// Needs www/pkg (scripts/build-wasm.sh) and www/examples/ptq (scripts/fetch_ptq_models.py).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ortRuntime } from '../www/worker/ort.js';
import ptqDomain, { variantLabel } from '../www/worker/ptq.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const cli = option('--cli', join(root, 'target/release/quant-playground'));
const only = option('--only', null);
const methods = option('--methods', 'minmax,percentile,entropy,distribution,mse').split(',');
const jsonOut = option('--json', null);
const nodeErrorsDir = option('--node-errors', null);

/** The embedded models as the page lists them (www/worker/ptq.js EMBEDDED), files under www/examples/ptq. */
const MODELS = {
  'textline-cls': { model: 'textline-direction-cls.onnx', calibration: 'textline-calib.npz', evaluation: 'textline-eval.npz', output: 'save_infer_model/scale_0.tmp_1' },
  'paraphrase-minilm': { model: 'paraphrase-minilm-l3.onnx', calibration: 'sentences-calib.npz', evaluation: 'sentences-eval.npz', output: '461' },
};

async function loadCore() {
  const mod = await import(join(root, 'www/pkg/quant_playground.js'));
  mod.initSync({ module: readFileSync(join(root, 'www/pkg/quant_playground_bg.wasm')) });
  const bytesOf = async (file) => new Uint8Array(await file.arrayBuffer());
  return {
    callWasm: async (context, fn) => fn(mod),
    free: (object) => object?.free(),
    // The whole file as one piece: these inputs are small (the page reads headers piece by piece).
    readIndex: async (file) => JSON.parse(mod.parse_index_pieces(file.name, file.size, [0], [file.size], await bytesOf(file))),
    readStored: async (file, info) => {
      const [offset, length] = mod.tensor_stored_range(JSON.stringify(info));
      return (await bytesOf(file)).slice(offset, offset + length);
    },
    transfer: (bytes) => bytes,
  };
}

const nodeRuntime = ortRuntime(async () => {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  return ort;
});

const fileAt = (dir, name) => new File([readFileSync(join(dir, name))], name);
const job = { step: async () => {}, partial: undefined };

function runCli(argv) {
  const result = spawnSync(cli, ['ptq', ...argv, '--json'], { cwd: root, encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  if (result.error) throw new Error(`${cli}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${cli} ptq ${argv.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout;
}

async function table(key, core) {
  const dir = join(root, 'www/examples/ptq');
  const m = MODELS[key];
  const domain = ptqDomain(core, nodeRuntime);
  const opened = await domain.ptqOpen(job, fileAt(dir, m.model), [fileAt(dir, m.calibration)], [fileAt(dir, m.evaluation)], m.output);
  const rows = [{ label: 'FP32', bytes: opened.bytes, accuracy: opened.fp32.accuracy, top1_agreement: 1, neighbour_agreement: opened.fp32.neighbours ? 1 : null, sqnr_db: null, cosine: 1, max_abs_err: 0 }];
  const tmp = mkdtempSync(join(tmpdir(), 'ptq-table-'));
  try {
    const measure = async (variant, argv) => {
      const out = join(tmp, 'q.onnx');
      const started = Date.now();
      const report = JSON.parse(runCli([join(dir, m.model), ...argv, '-o', out])).report;
      const bytes = new Uint8Array(readFileSync(out));
      const row = await domain.ptqMeasureModel(job, variantLabel(variant), bytes);
      let nodeErrors;
      if (nodeErrorsDir && variant.kind === 'static') {
        const slug = `${key}.${variantLabel(variant).replace(/[^\w]+/g, '-').replace(/-+$/, '')}`;
        writeFileSync(join(nodeErrorsDir, `${slug}.onnx`), bytes);
        nodeErrors = { model: `${slug}.onnx`, rows: await domain.ptqMeasureNodeErrors(job, row.label, bytes, report.node_outputs) };
      }
      rows.push({ ...row, variant, neighbours: undefined, node_errors: nodeErrors });
      console.error(`[ptq-table] ${key} ${row.label}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    };
    for (const granularity of ['tensor', 'channel']) await measure({ kind: 'dynamic', granularity }, ['--dynamic', '--granularity', granularity]);
    const engine = ['--calib-data', join(dir, m.calibration), '--engine', `node ${join(root, 'scripts/ort_runner.mjs')}`];
    for (const method of methods) {
      for (const granularity of ['tensor', 'channel']) {
        await measure({ kind: 'static', method, granularity, activations: 'u8' }, [...engine, '--method', method, '--granularity', granularity, '--activations', 'u8']);
      }
    }
    await measure({ kind: 'int4' }, ['--int4']);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return { model: m.model, output: m.output, evaluationSamples: opened.evaluationSamples, labels: opened.labels, ort: await nodeRuntime.version(), rows };
}

function markdown(key, t) {
  const pct = (v) => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(2)} %`);
  // The core writes an exact match's SQNR as "inf" (JSON has no infinity).
  const db = (v) => (v === null || v === undefined ? '—' : typeof v === 'number' ? v.toFixed(2) : '∞');
  const lines = [`${key} (${t.model}, output ${t.output}, ${t.evaluationSamples} evaluation samples)`, ''];
  lines.push(`| variant | ${t.labels ? 'accuracy | ' : ''}top-1 = FP32 | output SQNR dB | cosine | size |`);
  lines.push(`| --- | ${t.labels ? '--- | ' : ''}--- | --- | --- | --- |`);
  for (const r of t.rows) lines.push(`| ${r.label}${r.note ? ` (${r.note})` : ''} | ${t.labels ? `${pct(r.accuracy)} | ` : ''}${pct(r.top1_agreement)} | ${db(r.sqnr_db)} | ${r.cosine.toFixed(6)} | ${(r.bytes / 1024).toFixed(0)} KiB |`);
  return lines.join('\n');
}

const core = await loadCore();
const result = {};
for (const key of Object.keys(MODELS).filter((k) => !only || k === only)) {
  result[key] = await table(key, core);
  if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(result, null, 1)}\n`);
  console.log(markdown(key, result[key]));
  console.log();
}
