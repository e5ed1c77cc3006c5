// End-to-end for the synthetic activations control: the page generates llm-like activations (8 rows, seed
// 1234) in the worker and opens them like a dropped file; the calibration table then equals the CLI's
// `calibrate --json` on the file `quant-playground synth` writes for the same distribution, rows and seed
// (ranges and scales as f32, SQNR to 1e-12 relative, the rest exactly, as panels.test.mjs compares). The seed
// shown is the one used (it names the file), and no request leaves 127.0.0.1. Activation batches: three .npy
// files chosen together are calibrated as batches of one set, and the table equals `calibrate a b c --json`.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { ARTIFACTS, CLI, ROOT, WAIT, cli, gaussians, npy, startSession } from './lib.mjs';

let session;
let page;
let dir;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-activations-'));
  session = await startSession();
  ({ page } = session);
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function readCalibration() {
  return page.locator('#calibration-table tbody tr').evaluateAll((rows) => rows.map((tr) => {
    const row = { method: tr.dataset.method };
    for (const td of tr.querySelectorAll('td[data-metric]')) row[td.dataset.metric] = JSON.parse(td.dataset.value);
    return row;
  }));
}

test('synthetic activations: llm-like, 8 rows, seed 1234 open like a file and calibrate as the CLI does', { timeout: 3 * WAIT }, async () => {
  // The example opens first; the control is ready once the distributions are in and a seed is shown.
  await page.locator('#tensors tr[data-file="example-seed-42.safetensors"][data-tensor="fc2.weight"]').waitFor();
  assert.deepEqual(await page.locator('#synth-dist option').evaluateAll((os) => os.map((o) => o.value)),
    ['gaussian', 'laplace', 'relu-gaussian', 'gaussian-outliers', 'llm-like']);
  assert.equal(await page.inputValue('#synth-rows'), '64');
  const first = await page.inputValue('#synth-seed');
  assert.match(first, /^\d+$/, 'a random seed is shown');
  await page.click('#synth-new-seed');
  await page.waitForFunction((first) => document.getElementById('synth-seed').value !== first, first);
  assert.match(await page.inputValue('#synth-seed'), /^\d+$/);

  await page.selectOption('#synth-dist', 'llm-like');
  await page.fill('#synth-rows', '8');
  await page.fill('#synth-seed', '1234');
  await page.click('#synth-generate');

  const name = 'activations-llm-like-seed-1234.safetensors';
  await page.waitForFunction((name) => {
    const table = document.getElementById('calibration-table');
    return table.dataset.state === 'ready' && table.dataset.tensor === 'activations' && table.dataset.bits === '8'
      && table.dataset.scheme === 'symmetric' && !document.querySelector('.calibration').hasAttribute('aria-busy')
      && document.querySelector(`#tensors tr[data-file="${name}"][data-tensor="activations"] input[type="radio"]`)?.checked;
  }, name);
  assert.equal(await page.inputValue('#synth-seed'), '1234', 'the seed shown is the one used');
  assert.equal(await page.locator('#calibration-of').textContent(), '— activations');
  await page.waitForFunction(() => document.getElementById('comparison').dataset.tensor === 'activations');

  await page.locator('.files').screenshot({ path: path.join(ARTIFACTS, 'synthetic-activations.png') });

  const file = path.join(dir, 'TMP.safetensors');
  execFileSync(CLI, ['synth', '--dist', 'llm-like', '--rows', '8', '--seed', '1234', '-o', file], { cwd: ROOT });
  const fromCli = cli(['calibrate', file, '--method', 'all', '--bits', '8', '--scheme', 'sym']);
  const shown = await readCalibration();
  assert.deepEqual(shown.map((r) => r.method), fromCli.methods.map((r) => r.method));
  fromCli.methods.forEach((want, i) => {
    const got = shown[i];
    assert.deepEqual(got.range.map(Math.fround), want.range.map(Math.fround), `${want.method} range`);
    assert.equal(Math.fround(got.scale), Math.fround(want.scale), `${want.method} scale`);
    for (const key of ['zero_point', 'mse', 'clipped_share']) assert.equal(got[key], want[key], `${want.method} ${key}`);
    if (typeof want.sqnr_db !== 'number') assert.equal(got.sqnr_db, want.sqnr_db, `${want.method} sqnr_db`);
    else assert.ok(Math.abs(got.sqnr_db - want.sqnr_db) <= 1e-12 * Math.abs(want.sqnr_db), `${want.method}: SQNR ${got.sqnr_db} vs the CLI's ${want.sqnr_db}`);
  });

  const outside = session.requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== session.origin);
  assert.deepEqual(outside, [], 'no request leaves 127.0.0.1');
  assert.deepEqual(session.pageErrors, []);
});

/** The batches table as shown: one row per method, each metric from its cell's raw data-value. */
function batchesTable() {
  return page.locator('#batches-table tbody tr').evaluateAll((rows) => rows.map((tr) => {
    const row = { method: tr.dataset.method };
    for (const td of tr.querySelectorAll('td[data-metric]')) row[td.dataset.metric] = JSON.parse(td.dataset.value);
    return row;
  }));
}

test('activation batches: three .npy files calibrate as one set, as `calibrate a b c --json` does', { timeout: 3 * WAIT }, async () => {
  await page.locator('#tensors tr[data-file="example-seed-42.safetensors"]').first().waitFor();
  // A heavy-tailed set (gaussian with a few 25σ outliers) split unevenly into three files.
  const values = gaussians(9000, 77, 1).map((v, i) => (i % 997 === 5 ? 25 * Math.sign(v || 1) : v));
  const cuts = [[0, 2500], [2500, 6100], [6100, 9000]];
  const files = cuts.map(([a, b], i) => {
    const file = path.join(dir, `batch-${i}.npy`);
    writeFileSync(file, npy(values.slice(a, b), [b - a]));
    return file;
  });
  await page.setInputFiles('#batches-input', files);
  await page.locator('#batches-table[data-state="ready"][data-batches="3"]').waitFor();
  assert.equal(await page.locator('#batches-status').textContent(), 'Calibrated 3 batches of 2500 + 3600 + 2900 = 9000 values.');

  const want = cli(['calibrate', ...files, '--method', 'all', '--bits', '8', '--scheme', 'sym']);
  assert.equal(want.batches, 3);
  assert.deepEqual(want.batch_values, [2500, 3600, 2900]);
  const shown = await batchesTable();
  assert.deepEqual(shown.map((r) => r.method), want.methods.map((r) => r.method));
  want.methods.forEach((w, i) => {
    const got = shown[i];
    assert.deepEqual(got.range, w.range, `${w.method} range`);
    for (const key of ['scale', 'zero_point', 'mse', 'clipped_share']) assert.equal(got[key], w[key], `${w.method} ${key}`);
    assert.ok(Math.abs(got.sqnr_db - w.sqnr_db) <= 1e-12 * Math.abs(w.sqnr_db), `${w.method}: SQNR ${got.sqnr_db} vs the CLI's ${w.sqnr_db}`);
  });
  // The single file of all 9000 values: the same min-max range exactly (the histogram methods are
  // checked within one bin natively, in tests/calib_reference.rs).
  const whole = path.join(dir, 'whole.npy');
  writeFileSync(whole, npy(values, [values.length]));
  const single = cli(['calibrate', whole, '--method', 'minmax', '--bits', '8', '--scheme', 'sym']);
  assert.deepEqual(shown.find((r) => r.method === 'minmax').range, single.methods[0].range);

  await page.locator('section.batches').screenshot({ path: path.join(ARTIFACTS, 'activation-batches.png') });
  assert.deepEqual(session.pageErrors, []);
});

test('activation batches: the float arrays of one deflated .npz are its batches, as `calibrate x.npz --batches` does', { timeout: 3 * WAIT }, async () => {
  const npz = path.join(ROOT, 'tests/fixtures/formats/deflated.npz'); // w f4 [4, 256], b f4 [16], w_f2 f2 [4, 256]
  // The table of the test before also holds 3 batches: wait for this run's own end in the status line.
  const before = await page.locator('#batches-status').textContent();
  await page.setInputFiles('#batches-input', npz);
  await page.waitForFunction((old) => {
    const text = document.getElementById('batches-status').textContent;
    return text !== old && !text.startsWith('Calibrating');
  }, before);
  assert.equal(await page.locator('#batches-status').textContent(), 'Calibrated 3 batches of 1024 + 16 + 1024 = 2064 values.');
  const want = cli(['calibrate', npz, '--batches', '--method', 'all', '--bits', '8', '--scheme', 'sym']);
  assert.deepEqual(want.batch_values, [1024, 16, 1024]);
  const shown = await batchesTable();
  assert.deepEqual(shown.map((r) => r.method), want.methods.map((r) => r.method));
  want.methods.forEach((w, i) => {
    assert.deepEqual(shown[i].range, w.range, `${w.method} range`);
    for (const key of ['scale', 'zero_point', 'mse', 'clipped_share']) assert.equal(shown[i][key], w[key], `${w.method} ${key}`);
  });
  assert.deepEqual(session.pageErrors, []);
});
