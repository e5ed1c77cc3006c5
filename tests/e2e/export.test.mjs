// End-to-end for "Download quantized": the page's safetensors export of a file (the whole model, and one
// tensor) is byte-identical to the CLI's `export` of the same file with the same configuration. The page's
// save picker is hidden so that it takes the Blob path, whose download Playwright catches.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/export.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, ROOT, f16, f32, gaussians, safetensors, startSession } from './lib.mjs';

let session;
let page;
let dir;
let model;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-export-'));
  model = path.join(dir, 'export-model.safetensors');
  writeFileSync(model, safetensors([
    { name: 'proj.weight', dtype: 'F32', shape: [24, 40], bytes: f32(gaussians(24 * 40, 31, 0.05)) },
    { name: 'head.weight', dtype: 'F16', shape: [8, 16], bytes: f16(8 * 16, 32) },
    { name: 'positions', dtype: 'I32', shape: [4], bytes: Buffer.from(new Int32Array([0, 1, 2, 3]).buffer) },
  ]));
  session = await startSession();
  ({ page } = session);
  // The Blob path: Chromium has showSaveFilePicker, but a headless run cannot answer its dialog.
  await page.evaluate(() => { window.showSaveFilePicker = undefined; });
  await page.setInputFiles('#file-input', model);
  await page.locator(`#tensors tbody[data-file="${path.basename(model)}"]`).waitFor();
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function configure({ bits, scheme, granularity, group }) {
  await page.selectOption('#bits', String(bits));
  await page.selectOption('#scheme', scheme);
  await page.selectOption('#granularity', granularity);
  if (group) await page.fill('#group-size', String(group));
  await page.locator('#group-size').dispatchEvent('change');
}

async function chooseTensor(tensor) {
  await page.locator(`#tensors tr[data-file="${path.basename(model)}"][data-tensor="${tensor}"] input[type="radio"]`).check();
}

async function download(button) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.locator(button).click()]);
  const bytes = readFileSync(await file.path());
  await page.waitForFunction(() => document.getElementById('export-cancel').hidden);
  return { bytes, name: file.suggestedFilename() };
}

function cliExport(args) {
  const out = path.join(dir, `cli-${Math.random().toString(36).slice(2)}.safetensors`);
  execFileSync(CLI, ['export', model, '--to', 'safetensors', '-o', out, ...args], { cwd: ROOT });
  return readFileSync(out);
}

test('the whole model downloads byte-identical to the CLI export (int4 asym groups of 16)', async () => {
  await configure({ bits: 4, scheme: 'asymmetric', granularity: 'group', group: 16 });
  await chooseTensor('proj.weight');
  await page.selectOption('#export-format', 'safetensors');
  const { bytes, name } = await download('#export-model');
  const want = cliExport(['--bits', '4', '--scheme', 'asym', '--granularity', 'group:16']);
  assert.equal(bytes.length, want.length, 'size');
  assert.ok(bytes.equals(want), 'bytes differ from the CLI export');
  assert.match(name, /^export-model\..*\.safetensors$/);
  assert.match(await page.locator('#export-report').textContent(), /positions.*I32/s);
});

test('one tensor downloads byte-identical to the CLI export with --tensor (int8 sym per channel)', async () => {
  await configure({ bits: 8, scheme: 'symmetric', granularity: 'channel' });
  await chooseTensor('proj.weight');
  const { bytes } = await download('#export-tensor');
  const want = cliExport(['--bits', '8', '--scheme', 'sym', '--granularity', 'channel', '--tensor', 'proj.weight']);
  assert.ok(bytes.equals(want), 'bytes differ from the CLI export');
  assert.deepEqual(session.pageErrors, []);
  // The download is a blob: URL of the page's own making; nothing goes to another origin.
  const outside = session.requests.filter((url) => !url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== session.origin);
  assert.deepEqual(outside, []);
});

test('an ONNX model downloads as QDQ byte-identical to the CLI export (int8 sym per channel)', async () => {
  const onnx = path.join(ROOT, 'tests/fixtures/export/mlp.onnx');
  await page.setInputFiles('#file-input', onnx);
  await page.locator('#tensors tbody[data-file="mlp.onnx"]').waitFor();
  await page.locator('#tensors tr[data-file="mlp.onnx"][data-tensor="w1"] input[type="radio"]').check();
  await configure({ bits: 8, scheme: 'symmetric', granularity: 'channel' });
  await page.selectOption('#export-format', 'onnx-qdq');
  assert.ok(await page.locator('#export-tensor').isDisabled(), 'QDQ writes the whole model only');
  const { bytes, name } = await download('#export-model');
  const out = path.join(dir, 'cli.qdq.onnx');
  execFileSync(CLI, ['export', onnx, '--to', 'onnx-qdq', '-o', out, '--granularity', 'channel'], { cwd: ROOT });
  assert.ok(bytes.equals(readFileSync(out)), 'bytes differ from the CLI export');
  assert.match(name, /\.qdq\.onnx$/);
  assert.match(await page.locator('#export-report').textContent(), /w1.*I8.*axis 1/s);
});

test('a GGUF model downloads as GGUF Q4_K byte-identical to the CLI export, its key-values and alignment kept', async () => {
  // The page's index travels as JSON without GGUF's typed key-values: the worker hands the export the
  // file's head so they are read again and carried over, as the CLI carries them.
  const gguf = path.join(ROOT, 'tests/fixtures/formats/w_align64.gguf');
  await page.setInputFiles('#file-input', gguf);
  await page.locator('#tensors tbody[data-file="w_align64.gguf"]').waitFor();
  await page.locator('#tensors tr[data-file="w_align64.gguf"][data-tensor="w_Q8_0"] input[type="radio"]').check();
  await page.selectOption('#export-format', 'gguf:Q4_K');
  const { bytes, name } = await download('#export-model');
  const out = path.join(dir, 'cli.Q4_K.gguf');
  execFileSync(CLI, ['export', gguf, '--to', 'gguf:Q4_K', '-o', out], { cwd: ROOT });
  const want = readFileSync(out);
  assert.equal(bytes.length, want.length, 'size');
  assert.ok(bytes.equals(want), 'bytes differ from the CLI export');
  assert.match(name, /\.Q4_K\.gguf$/);
  assert.ok(bytes.includes(Buffer.from('general.architecture')), 'the source key-values are carried over');
});

test('a TF.js model whose weight crosses its shards downloads byte-identical to the CLI export', async () => {
  // dense/kernel (float16 storage) runs from group1-shard1of2.bin into group1-shard2of2.bin: the worker
  // reads each part the core names (tensor_file_parts) from the shards chosen with model.json.
  const layers = path.join(ROOT, 'tests/fixtures/formats/tfjs/layers');
  const chosen = ['model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin'].map((f) => path.join(layers, f));
  await page.setInputFiles('#file-input', chosen);
  await page.locator('#tensors tbody[data-file="model.json"]').waitFor();
  await page.locator('#tensors tr[data-file="model.json"][data-tensor="dense/kernel"] input[type="radio"]').check();
  await configure({ bits: 8, scheme: 'symmetric', granularity: 'channel' });
  await page.selectOption('#export-format', 'safetensors');
  const cli = (extra) => {
    const out = path.join(dir, `cli-tfjs-${Math.random().toString(36).slice(2)}.safetensors`);
    execFileSync(CLI, ['export', chosen[0], '--to', 'safetensors', '-o', out, '--bits', '8', '--scheme', 'sym', '--granularity', 'channel', ...extra], { cwd: ROOT });
    return readFileSync(out);
  };
  const one = await download('#export-tensor');
  const wantOne = cli(['--tensor', 'dense/kernel']);
  assert.equal(one.bytes.length, wantOne.length, 'size of the one-tensor export');
  assert.ok(one.bytes.equals(wantOne), 'the split weight exports differently from the CLI');
  const all = await download('#export-model');
  assert.ok(all.bytes.equals(cli([])), 'the whole TF.js model exports differently from the CLI');
  assert.deepEqual(session.pageErrors, []);
});

test('the digits example downloads as GGUF Q3_K and IQ4_NL byte-identical to the CLI export', async () => {
  // The k-quant and non-linear targets the core writes (src/export/gguf.rs GgufTarget): Q3_K packs the
  // 256-wide fc2 rows in super-blocks and says what it does with the 64- and 128-wide ones; IQ4_NL packs
  // every weight in blocks of 32. The page and the CLI go through the same plan, so the files are equal.
  // The page opens the embedded example itself (www/worker/example.js): the same file as the CLI's.
  const digits = path.join(ROOT, 'www/examples/digits-mlp.safetensors');
  await page.locator('#tensors tbody[data-file="digits-mlp.safetensors"]').waitFor();
  await page.locator('#tensors tr[data-file="digits-mlp.safetensors"][data-tensor="fc2.weight"] input[type="radio"]').check();
  const listed = await page.locator('#export-format option').evaluateAll((options) => options.map((o) => o.value));
  for (const type of ['Q2_K', 'Q3_K', 'Q5_K', 'IQ4_NL']) assert.ok(listed.includes(`gguf:${type}`), `the panel offers gguf:${type}`);
  for (const type of ['Q3_K', 'IQ4_NL']) {
    await page.selectOption('#export-format', `gguf:${type}`);
    const { bytes, name } = await download('#export-model');
    const out = path.join(dir, `cli-digits.${type}.gguf`);
    execFileSync(CLI, ['export', digits, '--to', `gguf:${type}`, '-o', out], { cwd: ROOT });
    const want = readFileSync(out);
    assert.equal(bytes.length, want.length, `${type}: size`);
    assert.ok(bytes.equals(want), `${type}: bytes differ from the CLI export`);
    assert.equal(name, `digits-mlp.${type}.gguf`);
    assert.match(await page.locator('#export-report').textContent(), new RegExp(`fc2\\.weight.*${type}`, 's'), `${type}: fc2.weight is written as ${type}`);
  }
});
