// End-to-end for every weight format the core reads, through the page's file input: each fixture of
// tests/fixtures/formats (written by numpy, safetensors, gguf, onnx and torch via scripts/make_format_fixtures.py),
// the sharded checkpoint with and without its index JSON, w_ext.onnx with its external data chosen together, and
// TF.js models chosen with their shards (tests/fixtures/formats/tfjs).
// The listed names, dtypes and shapes must equal the CLI's `inspect --json`; the comparison table for a chosen
// tensor must equal the CLI's `compare --json` (and its INT8 column `quantize --json`), cell for cell. Then
// legacy.pt and malformed files: the specific error is shown in place, and what was loaded stays and computes.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/formats.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, CLI, ROOT, WAIT, cli, startSession } from './lib.mjs';

const FIXTURES = path.join(ROOT, 'tests/fixtures/formats');
const fixture = (name) => path.join(FIXTURES, name);
const SHARDS = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'].map((s) => `sharded/${s}`);

/**
 * Every fixture of the manifest, as the page lists it: `files` chosen together, `listed` the name of the
 * model in the tensor browser, `cliPath` what the CLI inspects, `tensors` the ones to compare (chosen to
 * cover each storage: deflated members, ggml blocks, big endian, Fortran order, ONNX float16 in int32_data,
 * a transposed torch view, external data, a tensor in the second shard).
 */
const MODELS = [
  { files: ['w.safetensors'], tensors: ['w', 'w_f64'] },
  { files: ['w.npy'], tensors: ['w'] },
  { files: ['w_v2.npy'], tensors: ['w_v2'] },
  { files: ['w_v3.npy'], tensors: ['w_v3'] },
  { files: ['w_f2.npy'], tensors: ['w_f2'] },
  { files: ['w_f8_be.npy'], tensors: ['w_f8_be'] },
  { files: ['w_fortran.npy'], tensors: ['w_fortran'] },
  { files: ['stored.npz'], tensors: ['w'] },
  { files: ['deflated.npz'], tensors: ['w_f2', 'b'] },
  { files: ['w.gguf'], tensors: ['w_Q4_K', 'w_bf16'] },
  { files: ['w_v2.gguf'], tensors: ['w_Q6_K'] },
  { files: ['w_align64.gguf'], tensors: ['w_Q8_0'] },
  { files: ['w.pt'], tensors: ['w_t', 'nested.b'] },
  { files: ['w.onnx'], tensors: ['w_f16', 'w_float_data'] },
  { files: ['w_ext.onnx', 'w_ext.onnx.data'], listed: 'w_ext.onnx', cliPath: 'w_ext.onnx', tensors: ['w'] },
  {
    files: ['sharded/model.safetensors.index.json', ...SHARDS],
    listed: 'model.safetensors.index.json',
    cliPath: 'sharded/model.safetensors.index.json',
    tensors: ['b.weight'],
  },
  // A GPTQ Linear (tests/fixtures/formats/gptq, auto-gptq's packing): its qweight, qzeros and scales read as
  // the parts of one tensor from the file itself (www/worker/index.js readSplit).
  {
    files: ['gptq/gptq.safetensors'],
    listed: 'gptq.safetensors',
    cliPath: 'gptq/gptq.safetensors',
    tensors: ['layers.0.q_proj.qweight'],
    // Counted from the shapes (2 groups × 32 outputs); codes 1024 B + qzeros, scales, g_idx 416 B over 2048 weights.
    stored: { 'layers.0.q_proj.qweight': /^stored 4-bit, blocks of 32 along axis 0, gptq \(GPTQ 4-bit, group 32 \('layers\.0\.q_proj'\)\) · 64 scales \(read with the tensor\), (zero point \d+|64 zero points) · 5\.63 bits\/w$/ },
  },
  // The shards without their index: a complete set of NAME-0000i-of-0000N files is one model.
  { files: SHARDS, listed: 'model-*-of-00002.safetensors', cliPath: 'sharded/model.safetensors.index.json', tensors: ['a.weight'] },
  // TF.js (tests/fixtures/formats/tfjs, the converter's write_weights): a model.json and a bare weights
  // manifest chosen with their .bin shards; dense/kernel (float16) and embedding (uint8, over three
  // shards) cross shard boundaries, conv1/kernel is uint8 affine.
  {
    files: ['tfjs/layers/model.json', 'tfjs/layers/group1-shard1of2.bin', 'tfjs/layers/group1-shard2of2.bin'],
    listed: 'model.json',
    cliPath: 'tfjs/layers/model.json',
    tensors: ['dense/kernel', 'conv1/kernel'],
  },
  {
    files: ['tfjs/graph/weights_manifest.json', ...[1, 2, 3].map((i) => `tfjs/graph/group1-shard${i}of3.bin`), 'tfjs/graph/group2-shard1of2.bin', 'tfjs/graph/group2-shard2of2.bin'],
    listed: 'weights_manifest.json',
    cliPath: 'tfjs/graph/weights_manifest.json',
    tensors: ['embedding'],
  },
];

const SETTINGS = ['--scheme', 'sym', '--granularity', 'channel']; // the page's default INT8/INT4 columns
const METRICS = ['bytes_quantized', 'compression', 'bits_per_weight', 'mse', 'sqnr_db', 'max_abs_err', 'cosine', 'clipped_share'];
const rawValue = (row, metric) => String(metric === 'compression' ? row.bytes_fp32 / row.bytes_quantized : row[metric]);

let session;
let page;
let dir;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-formats-'));
  session = await startSession();
  ({ page } = session);
  // The page opens on its example; wait until it has computed, so that every later table is ours.
  await page.waitForFunction(() => document.getElementById('comparison').dataset.file === 'example-seed-42.safetensors'
    && !document.getElementById('comparison').hasAttribute('aria-busy'));
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- helpers ------------------------------------------------------------------------------------------

/** The tensors the browser lists for `file`: [{ name, dtype, shape }] in the file's order. */
async function listed(file) {
  return page.locator(`#tensors tr[data-file="${file}"][data-tensor]`).evaluateAll((rows) => rows.map((r) => ({
    name: r.dataset.tensor,
    dtype: r.dataset.dtype,
    shape: r.dataset.shape ? r.dataset.shape.split(',').map(Number) : [],
  })));
}

/** The comparison table as { configs, cells: { config: { metric: data-value } } } (time is the page's own). */
async function readTable() {
  return page.evaluate(() => {
    const table = document.getElementById('comparison');
    const cells = {};
    for (const td of table.querySelectorAll('td[data-config][data-metric]')) {
      if (td.dataset.metric === 'time_ms') continue;
      (cells[td.dataset.config] ??= {})[td.dataset.metric] = td.dataset.value;
    }
    const configs = [...table.querySelectorAll('thead th[data-config]')].map((th) => th.dataset.config);
    return { file: table.dataset.file, tensor: table.dataset.tensor, configs, cells };
  });
}

async function waitForTable(file, tensor, configs) {
  await page.waitForFunction(({ file, tensor, configs }) => {
    const table = document.getElementById('comparison');
    return table.dataset.file === file && table.dataset.tensor === tensor && !table.hasAttribute('aria-busy')
      && configs.every((c) => table.querySelector(`td[data-config="${c}"][data-metric="sqnr_db"]`));
  }, { file, tensor, configs });
}

async function chooseTensor(file, tensor) {
  await page.locator(`#tensors tr[data-file="${file}"][data-tensor="${tensor}"] input[type="radio"]`).check();
}

/** Chooses files through the input (several at once) and waits for `listed` in the browser. */
async function openFiles(paths, listedName) {
  await page.setInputFiles('#file-input', paths);
  await page.locator(`#tensors tbody[data-file="${listedName}"]`).waitFor();
}

/** The CLI's error for a file (its message names the path; the page names the file). */
function cliError(file) {
  try {
    execFileSync(CLI, ['inspect', file, '--json'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    return error.stderr.trim().replace(/^error: /, '').replaceAll(file, path.basename(file));
  }
  throw new Error(`the CLI opened ${file}, which should be an error`);
}

const pick = (cells) => ({ bytes_quantized: cells.bytes_quantized, mse: cells.mse, sqnr_db: cells.sqnr_db, max_abs_err: cells.max_abs_err, cosine: cells.cosine });

/**
 * Cells equal exactly, except sqnr_db: 10·log10 of a ratio, where wasm's log10 (Rust's libm) and glibc's
 * may differ in the last bit (as in views.test.mjs), so it agrees to 1e-12 relative.
 */
function assertSameCells(shown, expected, message) {
  const strip = (cells) => Object.fromEntries(Object.entries(cells).map(([c, m]) => [c, { ...m, sqnr_db: undefined }]));
  assert.deepEqual(strip(shown), strip(expected), message);
  for (const [config, metrics] of Object.entries(expected)) {
    const want = Number(metrics.sqnr_db);
    const got = Number(shown[config].sqnr_db);
    if (!Number.isFinite(want)) assert.equal(shown[config].sqnr_db, metrics.sqnr_db, `${message}: ${config} SQNR`);
    else assert.ok(Math.abs(got - want) <= 1e-12 * Math.abs(want), `${message}: ${config} SQNR ${got} vs ${want}`);
  }
}

const errorItem = (file) => page.locator('#errors li', { hasText: `${file}:` });

// ---- the tests (one page, in order) ---------------------------------------------------------------------

test('the manifest is covered: every fixture is opened below', () => {
  const manifest = JSON.parse(readFileSync(fixture('manifest.json'), 'utf8'));
  const covered = new Set(MODELS.map((m) => m.cliPath ?? m.files[0]));
  for (const name of Object.keys(manifest).filter((k) => !['same_tensor', 'torch_version'].includes(k))) {
    assert.ok(covered.has(name), `${name} of the manifest is not opened by this test`);
  }
});

for (const model of MODELS) {
  const name = model.listed ?? model.files[0];
  test(`${model.files.join(' + ')}: listed as the CLI inspects it, and the table equals the CLI's numbers`, { timeout: 2 * WAIT }, async () => {
    await openFiles(model.files.map(fixture), name);
    const cliPath = fixture(model.cliPath ?? model.files[0]);
    const inspected = cli(['inspect', cliPath]);
    const want = inspected.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
    const shown = await listed(name);
    const byName = (a, b) => a.name.localeCompare(b.name);
    // The merged shards list in shard order, the index JSON's in its weight map's: compare as sets.
    assert.deepEqual([...shown].sort(byName), [...want].sort(byName), `${name}: names, dtypes and shapes`);
    assert.equal(await errorItem(name).count(), 0, `${name}: no error`);
    for (const [tensor, label] of Object.entries(model.stored ?? {})) {
      assert.match(await page.locator(`#tensors tr[data-file="${name}"][data-tensor="${tensor}"]`).getAttribute('data-stored'), label, `${name} ${tensor}: its stored quantization`);
    }

    for (const tensor of model.tensors) {
      const rows = cli(['compare', cliPath, '--tensor', tensor, ...SETTINGS]).tensors;
      await chooseTensor(name, tensor);
      await waitForTable(name, tensor, rows.map((r) => r.config));
      const table = await readTable();
      assert.deepEqual(table.configs, rows.map((r) => r.config), `${name} ${tensor}: columns`);
      const expected = Object.fromEntries(rows.map((row) => [row.config, Object.fromEntries(METRICS.map((m) => [m, rawValue(row, m)]))]));
      assertSameCells(table.cells, expected, `${name} ${tensor}: every cell equals the CLI's compare --json`);
      const [int8] = cli(['quantize', cliPath, '--tensor', tensor, '--bits', '8', ...SETTINGS]).tensors;
      assertSameCells({ [int8.config]: pick(table.cells[int8.config]) }, { [int8.config]: pick(Object.fromEntries(METRICS.map((m) => [m, rawValue(int8, m)]))) }, `${name} ${tensor}: quantize --json`);
    }
  });
}

test('legacy.pt and malformed files: the specific error in place, and what was loaded stays', { timeout: 3 * WAIT }, async () => {
  await chooseTensor('w.gguf', 'w_Q4_K');
  await waitForTable('w.gguf', 'w_Q4_K', ['int8 sym channel:0']);
  const before = await readTable();
  const filesBefore = await page.locator('#tensors tbody').evaluateAll((bodies) => bodies.map((b) => b.dataset.file));

  const gguf = readFileSync(fixture('w.gguf'));
  const npz = readFileSync(fixture('stored.npz'));
  const write = (name, bytes) => {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };
  const cases = [
    // The legacy pickle format: how to re-save it.
    { file: fixture('legacy.pt'), text: /re-save it in torch\.save's zip format/ },
    // A GGUF cut after 200 bytes: its key-value count cannot fit, checked before anything is allocated.
    { file: write('truncated.gguf', gguf.subarray(0, 200)), text: /GGUF: 16 key-value pairs cannot fit a 200-byte file/ },
    // A GGUF cut inside its tensor data: the index points past the end.
    { file: write('cut-data.gguf', gguf.subarray(0, gguf.length - 100)), text: /past the end|ends at|truncated/ },
    // An .npz whose end (the zip's central directory) is cut off.
    { file: write('cut.npz', npz.subarray(0, npz.length - 30)), text: /zip|central directory|end of/i },
    // Neither magic nor known extension.
    { file: write('notes.txt', Buffer.from('these are not weights\n')), text: /not a file format the playground reads/ },
    // An empty file.
    { file: write('empty.safetensors', Buffer.alloc(0)), text: /the file is empty/ },
  ];
  for (const c of cases) {
    const name = path.basename(c.file);
    await page.setInputFiles('#file-input', c.file);
    await errorItem(name).waitFor();
    const shown = (await errorItem(name).textContent()).trim();
    assert.match(shown, c.text, `${name}: ${shown}`);
    assert.ok(shown.includes(cliError(c.file)), `${name}: the page says "${shown}", the CLI "${cliError(c.file)}"`);
    assert.equal(await page.locator(`#tensors tbody[data-file="${name}"]`).count(), 0, `${name} is not listed`);
  }

  // An .onnx without its external data, and an index JSON without one of its shards: the missing file is named.
  await page.setInputFiles('#file-input', fixture('w_ext.onnx'));
  await errorItem('w_ext.onnx').waitFor();
  assert.match(await errorItem('w_ext.onnx').textContent(), /stored in w_ext\.onnx\.data, which was not opened with it/);
  await page.setInputFiles('#file-input', [fixture('sharded/model.safetensors.index.json'), fixture(SHARDS[0])]);
  await errorItem('model.safetensors.index.json').waitFor();
  assert.match(await errorItem('model.safetensors.index.json').textContent(), /not opened with it: model-00002-of-00002\.safetensors/);
  // A TF.js model.json without one of its shards, and one whose last shard is shorter than its manifest says.
  await page.setInputFiles('#file-input', [fixture('tfjs/layers/model.json'), fixture('tfjs/layers/group1-shard1of2.bin')]);
  await errorItem('model.json').waitFor();
  assert.match(await errorItem('model.json').textContent(), /names a shard not opened with it: group1-shard2of2\.bin/);
  const lying = [
    write('lying-model.json', readFileSync(fixture('tfjs/layers/model.json'))),
    write('group1-shard1of2.bin', readFileSync(fixture('tfjs/layers/group1-shard1of2.bin'))),
    write('group1-shard2of2.bin', readFileSync(fixture('tfjs/layers/group1-shard2of2.bin')).subarray(4)),
  ];
  await page.setInputFiles('#file-input', lying);
  await errorItem('lying-model.json').waitFor();
  const lie = (await errorItem('lying-model.json').textContent()).trim();
  assert.match(lie, /group 0's weights need \d+ bytes but its shards hold \d+ \(group1-shard1of2\.bin 900, .*\): the shards are shorter than the manifest says/);
  assert.ok(lie.includes(cliError(lying[0])), `the page says "${lie}", the CLI "${cliError(lying[0])}"`);
  await page.locator('#errors').screenshot({ path: path.join(ARTIFACTS, 'formats-errors.png') });

  // Nothing loaded before went away (the failed w_ext.onnx keeps its earlier, complete entry), and it still computes.
  assert.deepEqual(await readTable(), before, 'the table is unchanged');
  assert.deepEqual(await page.locator('#tensors tbody').evaluateAll((bodies) => bodies.map((b) => b.dataset.file)), filesBefore);
  await chooseTensor('w_ext.onnx', 'w');
  await waitForTable('w_ext.onnx', 'w', ['int8 sym channel:0']);
  const rows = cli(['compare', fixture('w_ext.onnx'), '--tensor', 'w', ...SETTINGS]).tensors;
  const table = await readTable();
  for (const row of rows) assert.equal(table.cells[row.config].sqnr_db, rawValue(row, 'sqnr_db'), `${row.config} after the errors`);
});

test('the drop zone takes several files at once: an .onnx and its external data dropped together', { timeout: WAIT }, async () => {
  // Renamed copies, so that the listing cannot be the one the file input made above.
  const model = readFileSync(fixture('w_ext.onnx'));
  const data = readFileSync(fixture('w_ext.onnx.data'));
  const dataTransfer = await page.evaluateHandle(({ model, data }) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(data)], 'w_ext.onnx.data'));
    transfer.items.add(new File([new Uint8Array(model)], 'dropped.onnx'));
    return transfer;
  }, { model: [...model], data: [...data] });
  await page.dispatchEvent('main', 'dragenter', { dataTransfer });
  await page.dispatchEvent('main', 'dragover', { dataTransfer });
  await page.dispatchEvent('main', 'drop', { dataTransfer });
  await page.locator('#tensors tbody[data-file="dropped.onnx"]').waitFor();
  assert.match(await page.locator('#tensors tbody[data-file="dropped.onnx"] .file-head').textContent(), /2 files: dropped\.onnx, w_ext\.onnx\.data/);
  assert.equal(await errorItem('w_ext.onnx.data').count(), 0, 'the data file is not opened on its own');
  await chooseTensor('dropped.onnx', 'w');
  const rows = cli(['compare', fixture('w_ext.onnx'), '--tensor', 'w', ...SETTINGS]).tensors;
  await waitForTable('dropped.onnx', 'w', rows.map((r) => r.config));
  const table = await readTable();
  const expected = Object.fromEntries(rows.map((row) => [row.config, Object.fromEntries(METRICS.map((m) => [m, rawValue(row, m)]))]));
  assertSameCells(table.cells, expected, 'dropped.onnx w: the table equals the CLI on w_ext.onnx');
});
