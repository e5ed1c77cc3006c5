// Issue 3's memory bound, in the page: a 5 GiB safetensors file (sparse on disk: a 5 GiB F16 tensor of zero
// bytes made with truncate, then one real 16 MiB F32 tensor at the end) is chosen through the file input; its
// 16 MiB tensor is selected and quantized (table, pictures, calibration and the 70-point sweep). The wasm
// memory may grow by at most 3 × that tensor's f32 size plus a few MB over what the page held before, whatever
// the file's size: only the header and the tensor's own bytes are read. This is a bound the issue sets, so it is
// asserted; the times (drop → listed table, → table and pictures) are printed, never asserted.
//
// Issue 20's, in the page: the 1 GiB BF16 token embedding of an 8B model (128256 × 4096, 2 GiB as f32;
// generated here from a seeded pattern, never committed) is compared in chunks of rows: the table equals
// the CLI's `compare --json` on the same file, its pictures are drawn from chunks too (128256 scales), its
// sweep streams (progress moves; cancelled once under way: it takes many minutes), and the module's memory
// (its high-water mark) stays under 512 MiB. Then the comparison is cancelled midway: the page says so, the last table stays, and the next
// comparison works.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/bigfile.test.mjs
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, mkdtempSync, openSync, rmSync, statSync, statfsSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ARTIFACTS, CLI, ROOT, WAIT, cli, f32, gaussians, safetensorsHeader, startSession } from './lib.mjs';

const runFile = promisify(execFile);

const HUGE_BYTES = 5 * 2 ** 30; // the zero tensor: 5 GiB of F16
const ROWS = 1024;
const COLS = 4096; // the real tensor: [1024, 4096] F32 = 16 MiB
const TENSOR_F32_BYTES = ROWS * COLS * 4;
const SLACK_BYTES = 4 * 2 ** 20; // "a few MB": allocator rounding, report strings, histograms

let session;
let page;
let dir;
let file;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-bigfile-'));
  const { bavail, bsize } = statfsSync(dir);
  assert.ok(bavail * bsize > 2 * 2 ** 30, `${dir} needs about 1.1 GB free (the 1 GiB embedding is written; the 5 GiB are sparse)`);
  file = path.join(dir, 'big-5gib.safetensors');
  const header = safetensorsHeader([
    { name: 'model.embed_tokens.weight', dtype: 'F16', shape: [HUGE_BYTES / 2 / 4096, 4096], length: HUGE_BYTES },
    { name: 'lm_head.weight', dtype: 'F32', shape: [ROWS, COLS], length: TENSOR_F32_BYTES },
  ]);
  writeFileSync(file, header);
  truncateSync(file, header.length + HUGE_BYTES); // a hole: no disk blocks, reads as zeros
  const values = gaussians(ROWS * COLS, 21, 0.02);
  for (let i = 0; i < COLS; i++) values[17 * COLS + i] *= 25; // an outlier row, as real heads have
  appendFileSync(file, f32(values));
  assert.equal(statSync(file).size, header.length + HUGE_BYTES + TENSOR_F32_BYTES);
  session = await startSession();
  ({ page } = session);
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true }); // the 5 GiB file never outlives the test
});

/** The footer's memory readout once it has been read after `file:tensor`'s table, pictures and sweep. */
async function memoryAfter(fileName, tensor) {
  const readout = page.locator(`#wasm-memory[data-after="${fileName}:${tensor}"]`);
  await readout.waitFor({ state: 'attached', timeout: 10 * WAIT });
  return Number(await readout.getAttribute('data-bytes'));
}

test('a 5 GiB file: listed from its header, and its 16 MiB tensor quantized within 3× its f32 size of memory', { timeout: 15 * WAIT }, async () => {
  // The baseline: the page with its examples computed, read afresh after a tiny fixture's table and sweep.
  await memoryAfter('example-seed-42.safetensors', 'fc2.weight');
  await page.waitForFunction(() => document.querySelector('.digits').dataset.state === 'ready', null, { timeout: 10 * WAIT });
  await page.setInputFiles('#file-input', path.join(ROOT, 'tests/fixtures/formats/w.npy'));
  const baseline = await memoryAfter('w.npy', 'w');

  const started = Date.now();
  await page.setInputFiles('#file-input', file);
  await page.locator('#tensors tbody[data-file="big-5gib.safetensors"] tr[data-tensor="lm_head.weight"]').waitFor();
  const listedMs = Date.now() - started;

  // The page shows the 16 MiB tensor first (the 10 GiB-as-f32 one is never read unasked), and quantizes it.
  await page.waitForFunction(() => {
    const table = document.getElementById('comparison');
    return table.dataset.file === 'big-5gib.safetensors' && table.dataset.tensor === 'lm_head.weight' && !table.hasAttribute('aria-busy')
      && table.querySelector('td[data-config="int8 sym channel:0"][data-metric="sqnr_db"]');
  }, null, { timeout: 10 * WAIT });
  const tableMs = Date.now() - started;
  const afterQuantizing = await memoryAfter('big-5gib.safetensors', 'lm_head.weight');
  const allMs = Date.now() - started;
  await page.screenshot({ path: path.join(ARTIFACTS, 'bigfile.png') });

  const grown = afterQuantizing - baseline;
  const bound = 3 * TENSOR_F32_BYTES + SLACK_BYTES;
  const mib = (n) => (n / 2 ** 20).toFixed(1);
  console.log(`[bigfile] ${mib(statSync(file).size)} MiB file; drop → listed table ${listedMs} ms; → comparison table ${tableMs} ms; → table, pictures, calibration and sweep ${allMs} ms`);
  console.log(`[bigfile] wasm memory ${mib(baseline)} MiB before, ${mib(afterQuantizing)} MiB after: +${mib(grown)} MiB for a ${mib(TENSOR_F32_BYTES)} MiB f32 tensor (bound ${mib(bound)} MiB)`);
  assert.ok(grown <= bound, `wasm memory grew by ${mib(grown)} MiB, over 3 × ${mib(TENSOR_F32_BYTES)} MiB + ${mib(SLACK_BYTES)} MiB`);

  // The numbers are the tensor's: the INT8 column equals the CLI's on the same 5 GiB file (it seeks, too).
  const [int8] = cli(['quantize', file, '--tensor', 'lm_head.weight', '--bits', '8', '--scheme', 'sym', '--granularity', 'channel']).tensors;
  const cell = (metric) => page.locator(`#comparison td[data-config="int8 sym channel:0"][data-metric="${metric}"]`).getAttribute('data-value');
  assert.equal(await cell('bytes_quantized'), String(int8.bytes_quantized));
  assert.equal(await cell('mse'), String(int8.mse));
  assert.equal(int8.bytes_quantized, ROWS * COLS + ROWS * 4);
});

// ---- issue 20: a 1 GiB BF16 embedding, compared in chunks ---------------------------------------------

const EMBED_ROWS = 128256;
const EMBED_COLS = 4096;
const EMBED = 'model.embed_tokens.weight';
const SMALL = 'lm_head.small'; // [64, 4096] BF16: the tensor shown before and after
const MEMORY_BOUND = 512 * 2 ** 20;

/**
 * BF16 bits of a seeded pattern (xorshift32): random signs and mantissas, exponents 2^-8..2^-1 with
 * one row 2^5 larger (an outlier token, as real embeddings have). `rows` rows from row `first`.
 */
function bf16Rows(first, rows, cols, seed) {
  const out = new Uint16Array(rows * cols);
  let state = (seed ^ (first * 0x9e3779b1)) >>> 0 || 1;
  for (let r = 0; r < rows; r++) {
    const bump = first + r === 17 ? 5 : 0;
    for (let c = 0; c < cols; c++) {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      const exponent = 119 + bump + ((state >>> 8) & 7);
      out[r * cols + c] = (state & 0x8000) | (exponent << 7) | ((state >>> 16) & 0x7f);
    }
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

let embedFile;

/** The safetensors file: the embedding (written 2048 rows at a time) and a small BF16 tensor. */
function writeEmbedding() {
  if (embedFile) return embedFile;
  const file = path.join(dir, 'embed-8b.safetensors');
  const embedBytes = EMBED_ROWS * EMBED_COLS * 2;
  const header = safetensorsHeader([
    { name: EMBED, dtype: 'BF16', shape: [EMBED_ROWS, EMBED_COLS], length: embedBytes },
    { name: SMALL, dtype: 'BF16', shape: [64, EMBED_COLS], length: 64 * EMBED_COLS * 2 },
  ]);
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, header);
    for (let r = 0; r < EMBED_ROWS; r += 2048) writeSync(fd, bf16Rows(r, Math.min(2048, EMBED_ROWS - r), EMBED_COLS, 20));
    writeSync(fd, bf16Rows(0, 64, EMBED_COLS, 99));
  } finally {
    closeSync(fd);
  }
  assert.equal(statSync(file).size, header.length + embedBytes + 64 * EMBED_COLS * 2);
  embedFile = file;
  return file;
}

const radio = (name, tensor) => page.locator(`#tensors tbody[data-file="${name}"] tr[data-tensor="${tensor}"] input[type="radio"]`);

/** Waits until the comparison table shows `tensor` of `name`, done. */
function tableOf(name, tensor) {
  return page.waitForFunction(([n, t]) => {
    const table = document.getElementById('comparison');
    return table.dataset.file === n && table.dataset.tensor === t && !table.hasAttribute('aria-busy')
      && table.querySelector('td[data-config="int8 sym channel:0"][data-metric="sqnr_db"]');
  }, [name, tensor], { timeout: 10 * WAIT });
}

test('a 1 GiB BF16 embedding (128256 × 4096) compared in chunks: the CLI\'s numbers, wasm memory under 512 MiB', { timeout: 15 * WAIT }, async () => {
  const file = writeEmbedding();
  const name = path.basename(file);
  // The CLI's comparison runs beside the page's (the debug build takes a while on 2^29 values).
  const cliRows = runFile(CLI, ['compare', file, '--tensor', EMBED, '--scheme', 'sym', '--granularity', 'channel', '--json'], { cwd: ROOT, maxBuffer: 2 ** 24 })
    .then(({ stdout }) => JSON.parse(stdout).tensors);
  cliRows.catch(() => {}); // awaited below; a failure is reported there
  await page.setInputFiles('#file-input', file);
  await tableOf(name, SMALL); // the page starts with the small tensor (the embedding is 2 GiB as f32)
  const started = Date.now();
  await radio(name, EMBED).check();
  await tableOf(name, EMBED);
  const tableMs = Date.now() - started;
  // The pictures stream too (3 reads of the chunks): drawn for the embedding, its 128256 per-channel scales.
  await page.waitForFunction((t) => {
    const pictures = document.querySelector('.pictures');
    return pictures.dataset.state === 'ready' && pictures.dataset.tensor === t && !pictures.hasAttribute('aria-busy');
  }, EMBED, { timeout: 10 * WAIT });
  const picturesMs = Date.now() - started;
  assert.equal(await page.locator('#scales-chart').getAttribute('data-slots'), String(EMBED_ROWS));
  assert.equal(await page.locator('#values-chart').getAttribute('data-bins'), '256');
  // The sweep streams: each piece reads the chunks (progress moves), nothing is refused. Its 70 specs and
  // the block / ggml formats over 2^29 values take many minutes here: it is cancelled once under way.
  await page.waitForFunction(() => {
    const progress = document.getElementById('pareto-progress');
    return !progress.hidden && progress.value > 0;
  }, null, { timeout: 10 * WAIT });
  const sweepProgress = Number(await page.locator('#pareto-progress').evaluate((p) => p.value));
  await page.locator('#pareto-cancel').click();
  await page.waitForFunction(() => /The sweep was cancelled/.test(document.getElementById('pareto-legend').textContent), null, { timeout: 10 * WAIT });
  assert.doesNotMatch(await page.locator('#errors').innerText(), /read the whole tensor/);
  const memory = await memoryAfter(name, EMBED); // after every view's work on it (the calibration streams too)
  const allMs = Date.now() - started;
  const mib = (n) => (n / 2 ** 20).toFixed(1);
  console.log(`[bigfile] 1 GiB BF16 embedding: → comparison table ${tableMs} ms; → pictures ${picturesMs} ms; sweep cancelled at ${(100 * sweepProgress).toFixed(1)} %; → every view done ${allMs} ms; wasm memory ${mib(memory)} MiB (bound ${mib(MEMORY_BOUND)} MiB)`);
  assert.ok(memory < MEMORY_BOUND, `wasm memory reached ${mib(memory)} MiB`);

  const rows = await cliRows;
  assert.deepEqual(rows.map((r) => r.config), ['fp32', 'fp16', 'bf16', 'int8 sym channel:0', 'int4 sym channel:0']);
  const cells = await page.evaluate(() => Object.fromEntries([...document.querySelectorAll('#comparison td[data-config][data-metric]')]
    .map((td) => [`${td.dataset.config} ${td.dataset.metric}`, td.dataset.value])));
  let compared = 0;
  for (const row of rows) {
    for (const metric of ['mse', 'sqnr_db', 'max_abs_err', 'cosine', 'clipped_share', 'bytes_quantized', 'bits_per_weight']) {
      if (row[metric] === undefined) continue;
      assert.equal(cells[`${row.config} ${metric}`], String(row[metric]), `${row.config} ${metric}`);
      compared += 1;
    }
  }
  console.log(`[bigfile] the embedding's table equals compare --json in ${compared} cells`);
  assert.ok(compared >= 25);
  // BF16 source: the bf16 column is exact, and INT8 per channel stores a byte per weight and a scale per row.
  assert.equal(rows[2].mse, 0);
  assert.equal(rows[3].bytes_quantized, EMBED_ROWS * EMBED_COLS + EMBED_ROWS * 4);
});

test('a comparison of the 1 GiB embedding cancelled midway: the page says so, the last table stays, the next one works', { timeout: 15 * WAIT }, async () => {
  const file = writeEmbedding();
  const name = path.basename(file);
  await radio(name, SMALL).check();
  await tableOf(name, SMALL);
  const before = await page.locator('#comparison').innerHTML();
  await radio(name, EMBED).check();
  // Progress shows once the first chunks are in; Cancel stops the job at its next chunk.
  await page.locator('#compare-progress:not([hidden])').waitFor({ timeout: 10 * WAIT });
  const progress = Number(await page.locator('#compare-progress').evaluate((p) => p.value));
  await page.locator('#compare-cancel').click();
  await page.waitForFunction(() => /The comparison of .* was cancelled/.test(document.getElementById('status').textContent), null, { timeout: 10 * WAIT });
  assert.ok(progress < 1, `cancelled at ${progress}`);
  assert.ok(await page.locator('#compare-progress').isHidden());
  const table = page.locator('#comparison');
  assert.equal(await table.getAttribute('data-tensor'), SMALL);
  assert.equal(await table.innerHTML(), before, 'the last table is still shown, unchanged');
  // The next comparison works: the small tensor again.
  await radio(name, SMALL).check();
  await page.waitForFunction((t) => document.getElementById('status').textContent.startsWith(`${t}: `)
    && / formats compared in /.test(document.getElementById('status').textContent), SMALL, { timeout: 10 * WAIT });
  assert.equal(await table.getAttribute('data-tensor'), SMALL);
});
