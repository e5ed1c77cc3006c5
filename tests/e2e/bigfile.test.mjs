// Issue 3's memory bound, in the page: a 5 GiB safetensors file (sparse on disk: a 5 GiB F16 tensor of zero
// bytes made with truncate, then one real 16 MiB F32 tensor at the end) is chosen through the file input; its
// 16 MiB tensor is selected and quantized (table, pictures, calibration and the 70-point sweep). The wasm
// memory may grow by at most 3 × that tensor's f32 size plus a few MB over what the page held before, whatever
// the file's size: only the header and the tensor's own bytes are read. This is a bound the issue sets, so it is
// asserted; the times (drop → listed table, → table and pictures) are printed, never asserted.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/bigfile.test.mjs
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, rmSync, statSync, statfsSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, ROOT, WAIT, cli, f32, gaussians, safetensorsHeader, startSession } from './lib.mjs';

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
  assert.ok(bavail * bsize > 256 * 2 ** 20, `${dir} needs about 20 MB free (the 5 GiB are sparse)`);
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
