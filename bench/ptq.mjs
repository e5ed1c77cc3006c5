// `node bench/ptq.mjs --cli PATH [--json FILE] [--quick]`: end-to-end inference time of the embedded PTQ
// models, FP32 vs the CLI's static INT8 (minmax, per tensor and per channel), in Node and in headless
// Chromium, by onnxruntime-web (wasm, one thread). One real evaluation sample (the first) per model.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { timeModels } from './ptq-time.mjs';
import { launchChromium, serveFiles } from './serve.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const cli = option('--cli', join(root, 'target/release/quant-playground'));
const jsonFile = option('--json', null);
const quick = args.includes('--quick');
const models = join(root, 'www/examples/ptq');

const EMBEDDED = [
  { name: 'textline-cls', file: 'textline-direction-cls.onnx', calib: 'textline-calib.npz', eval: 'textline-eval.npz', output: 'save_infer_model/scale_0.tmp_1' },
  { name: 'paraphrase-minilm', file: 'paraphrase-minilm-l3.onnx', calib: 'sentences-calib.npz', eval: 'sentences-eval.npz', output: '461' },
];

const tmp = mkdtempSync(join(tmpdir(), 'qp-ptq-bench-'));
const url = (path) => `/${path.startsWith(tmp) ? `tmp/${path.slice(tmp.length + 1)}` : path.slice(root.length + 1)}`;
const plan = { warmup: quick ? 1 : 3, runs: quick ? 5 : 21, models: [] };
for (const m of EMBEDDED) {
  const model = join(models, m.file);
  const variants = [{ label: 'FP32', path: model }];
  const ranges = join(tmp, `${m.name}.ranges.json`);
  for (const granularity of ['tensor', 'channel']) {
    const out = join(tmp, `${m.name}.int8-${granularity}.onnx`);
    const calibrate = granularity === 'tensor'
      ? ['--calib-data', join(models, m.calib), '--engine', `node ${join(root, 'scripts/ort_runner.mjs')}`, '--save-ranges', ranges]
      : ['--ranges', ranges];
    execFileSync(cli, ['ptq', model, ...calibrate, '--method', 'minmax', '--granularity', granularity, '-o', out], { stdio: ['ignore', 'ignore', 'inherit'] });
    variants.push({ label: `static INT8 minmax per ${granularity}`, path: out });
  }
  // The first evaluation sample of each input as raw little-endian bytes (numpy reads the .npz).
  const described = execFileSync('python3', ['-c', `
import json, sys, numpy as np
d = np.load(sys.argv[1]); out = []
for name in d.files:
    if name == 'label': continue
    a = np.ascontiguousarray(d[name][:1]); path = f"{sys.argv[2]}/{sys.argv[3]}.{name.replace('/', '_')}.bin"; a.astype(a.dtype.newbyteorder('<')).tofile(path)
    out.append({'name': name, 'type': {'float32': 'float32', 'int64': 'int64'}[str(a.dtype)], 'dims': list(a.shape), 'path': path})
print(json.dumps(out))`, join(models, m.eval), tmp, m.name], { encoding: 'utf8' });
  const inputs = JSON.parse(described).map((i) => ({ ...i, url: url(i.path) }));
  plan.models.push({ name: m.name, output: m.output, inputs, variants: variants.map((v) => ({ label: v.label, url: url(v.path), bytes: readFileSync(v.path).length })) });
}

const pathOf = (u) => (u.startsWith('/tmp/') ? join(tmp, u.slice(5)) : join(root, u));
async function inNode() {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  return timeModels(ort, plan, async (u) => new Uint8Array(readFileSync(pathOf(u))), 'node');
}

async function inChromium() {
  const { server, origin } = await serveFiles(pathOf);
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(m.text()));
    await page.goto(`${origin}/bench/ptq.html?plan=${encodeURIComponent(JSON.stringify(plan))}`);
    const result = await (await page.waitForFunction(() => window.ptqResult, null, { timeout: 0, polling: 500 })).jsonValue();
    if (result.error) throw new Error(`chromium: ${result.error}`);
    return result;
  } finally {
    await browser.close();
    server.close();
  }
}

try {
  const rows = [...(await inNode()), ...(await inChromium())];
  console.log('\n| env | model | variant | size | median ms / inference | vs FP32 |');
  console.log('|---|---|---|---:|---:|---:|');
  for (const r of rows) {
    const fp32 = rows.find((f) => f.env === r.env && f.model === r.model && f.variant === 'FP32');
    const bytes = plan.models.find((m) => m.name === r.model).variants.find((v) => v.label === r.variant).bytes;
    console.log(`| ${r.env} | ${r.model} | ${r.variant} | ${(bytes / 2 ** 20).toFixed(2)} MiB | ${r.median_ms.toFixed(2)} | ${(fp32.median_ms / r.median_ms).toFixed(2)}× |`);
  }
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ rows }, null, 1));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
