// End-to-end for the pool of workers (www/app/pool.js, www/app/bridge.js, www/app/fanout.js): with
// ?workers=1, 2 and 4 the Pareto sweep (its points, front and legend), the whole-model table (its JSON
// download) and two exports (their bytes) are identical, and equal the CLI; the page shows how many
// workers it runs; a tensor that fails (Q4_K on rows of 100) is listed with the core's error and every
// other tensor is kept; a worker that dies in the middle of a run is replaced, its tensor is reported as
// an error, the other tensors and the open file stay, and the next run is whole again. The PTQ view's
// variants and "which layer hurts" (one variant or layer per worker, each with its own onnxruntime-web)
// give the same table, ranking, suggestion and downloaded bytes with 1 and 2 workers.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/pool.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { variantLabel } from '../../www/worker/ptq.js';
import { CLI, ROOT, WAIT, cli, f16, f32, gaussians, safetensors, safetensorsHeader, startSession } from './lib.mjs';

let session;
let page;
let origin;
let dir;
let model; // 20 tensors (19 float) of mixed dtypes and shapes, one of them unfit for Q4_K
let many; // 40 tensors: a run long enough to lose a worker in the middle of it
let trapping; // six small tensors and one that traps the module

/** The fixture: F32 and F16 weights, a 1-D norm, an integer tensor (skipped) and [3, 100] (no Q4_K). */
function writeModel(file) {
  const tensors = [];
  for (let l = 0; l < 4; l++) {
    for (const p of ['q', 'k', 'v']) tensors.push({ name: `layers.${l}.${p}.weight`, dtype: 'F32', shape: [64, 256], bytes: f32(gaussians(64 * 256, 100 + l * 3 + p.charCodeAt(0), 0.05)) });
    tensors.push({ name: `layers.${l}.norm.weight`, dtype: 'F32', shape: [256], bytes: f32(gaussians(256, 200 + l, 1)) });
  }
  tensors.push({ name: 'head.weight', dtype: 'F16', shape: [32, 256], bytes: f16(32 * 256, 7) });
  tensors.push({ name: 'odd.weight', dtype: 'F32', shape: [3, 100], bytes: f32(gaussians(300, 8, 0.1)) });
  tensors.push({ name: 'position_ids', dtype: 'I32', shape: [4], bytes: Buffer.from(new Int32Array([0, 1, 2, 3]).buffer) });
  tensors.push({ name: 'embed.weight', dtype: 'F32', shape: [128, 256], bytes: f32(gaussians(128 * 256, 9, 0.02)) });
  writeFileSync(file, safetensors(tensors));
}

function writeMany(file) {
  const tensors = Array.from({ length: 40 }, (_, i) => ({ name: `block.${String(i).padStart(2, '0')}.weight`, dtype: 'F32', shape: [256, 256], bytes: f32(gaussians(256 * 256, 500 + i, 0.05)) }));
  writeFileSync(file, safetensors(tensors));
}

/**
 * Six small F32 tensors, then 'huge', F16 [512, 1048576] (1 GiB, a hole on disk): as f32 it is 2 GiB, more
 * than one wasm32 allocation can hold, so the module traps on it (smoke.test.mjs's trapping tensor).
 */
function writeTrapping(file) {
  const small = Array.from({ length: 6 }, (_, i) => ({ name: `small.${i}.weight`, dtype: 'F32', shape: [32, 64], length: 32 * 64 * 4 }));
  const hugeLength = 2 ** 30;
  const header = safetensorsHeader([...small, { name: 'huge', dtype: 'F16', shape: [512, 1048576], length: hugeLength }]);
  const bytes = Buffer.concat([header, ...small.map((t, i) => f32(gaussians(32 * 64, 700 + i, 0.05)))]);
  writeFileSync(file, bytes);
  truncateSync(file, bytes.length + hugeLength);
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-pool-'));
  model = path.join(dir, 'pool-model.safetensors');
  many = path.join(dir, 'pool-many.safetensors');
  writeModel(model);
  writeMany(many);
  trapping = path.join(dir, 'pool-trapping.safetensors');
  writeTrapping(trapping);
  session = await startSession();
  ({ page, origin } = session);
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A fresh page with `workers` workers and Q4_K as an added column; `file` opened in it. */
async function load(workers, file) {
  await page.goto(`${origin}/?workers=${workers}&add=q4_k`);
  await page.locator('#tensors tbody[data-file="example-seed-42.safetensors"]').waitFor();
  // The Blob path of the export: a headless run cannot answer the save picker.
  await page.evaluate(() => { window.showSaveFilePicker = undefined; });
  await page.setInputFiles('#file-input', file);
  await page.locator(`#tensors tbody[data-file="${path.basename(file)}"]`).waitFor();
}

async function runModel() {
  await page.locator('#model-run').click();
  await page.waitForFunction(() => {
    const result = document.getElementById('model-result');
    return !result.hidden && document.getElementById('model-cancel').hidden && result.dataset.state;
  });
}

async function download(button) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.locator(button).click()]);
  return { name: file.suggestedFilename(), bytes: readFileSync(await file.path()) };
}

async function chooseConfig(label) {
  const value = await page.locator('#model-config option').evaluateAll((options, l) => options.find((o) => o.textContent === l)?.value, label);
  assert.ok(value, `the configuration ${label} is offered`);
  await page.selectOption('#model-config', value);
}

const errorsShown = () => page.locator('#errors li').allTextContents();

/** The pictures show `tensor` and the Pareto sweep is done (the views test's wait). */
async function waitForPictures(tensor) {
  await page.waitForFunction((tensor) => {
    const pictures = document.querySelector('.pictures');
    return pictures.dataset.state === 'ready' && pictures.dataset.tensor === tensor && !pictures.hasAttribute('aria-busy')
      && document.getElementById('pareto-progress').hidden && document.querySelector('#pareto-chart canvas');
  }, tensor);
}

/** What one pool size gives: the sweep's points and front, the two whole-model documents, the two exports' bytes. */
async function outcomes(workers) {
  await load(workers, model);
  await page.locator('#tensors tr[data-file="pool-model.safetensors"][data-tensor="embed.weight"] input[type="radio"]').check();
  await waitForPictures('embed.weight');
  const pareto = await page.locator('#pareto-chart').evaluate((c) => ({ points: c.dataset.points, formats: c.dataset.formats, front: c.dataset.front, legend: document.getElementById('pareto-legend').textContent }));
  assert.equal(await page.locator('#model-workers').textContent(), `${workers} worker${workers === 1 ? '' : 's'}`);
  assert.equal(await page.locator('#model-workers').getAttribute('data-workers'), String(workers));
  await page.locator('[data-preset="int8"]').click();
  await runModel();
  assert.match(await page.locator('#model-status').textContent(), new RegExp(`^19 tensors in .* on ${workers} worker`));
  const int8 = JSON.parse((await download('#model-json')).bytes.toString('utf8'));

  await chooseConfig('q4_k');
  await runModel();
  const q4k = JSON.parse((await download('#model-json')).bytes.toString('utf8'));
  const shown = await errorsShown();
  assert.ok(shown.some((e) => /1 of 19 tensors failed/.test(e) && /tensor 'odd\.weight'/.test(e) && /rows of 100/.test(e)), `the error names the tensor: ${shown}`);
  assert.equal(await page.locator('#model-all tbody tr').count(), 18);

  await page.selectOption('#export-format', 'safetensors');
  const exported = await download('#export-model');
  await page.selectOption('#export-format', 'gguf:Q8_0');
  const gguf = await download('#export-model');
  return { pareto, int8, q4k, exported, gguf };
}

/** The page's document equals the CLI's, sqnr_db to 1e-12 (wasm's log10 and glibc's may differ in the last bit). */
function assertSameAsCli(fromPage, fromCli) {
  const strip = (doc) => ({ ...doc, file: undefined, tensors: doc.tensors.map((r) => ({ ...r, sqnr_db: undefined })) });
  assert.deepEqual(strip(fromPage), strip(fromCli));
  fromPage.tensors.forEach((r, i) => {
    const want = fromCli.tensors[i].sqnr_db;
    if (typeof want !== 'number') assert.equal(r.sqnr_db, want, r.name);
    else assert.ok(Math.abs(r.sqnr_db - want) <= 1e-12 * Math.abs(want), `${r.name}: SQNR ${r.sqnr_db} vs the CLI's ${want}`);
  });
}

test('1, 2 and 4 workers: the sweep, the whole-model table and the exports are bit for bit the same, and equal the CLI', { timeout: 8 * WAIT }, async () => {
  const one = await outcomes(1);
  // The CLI for the same settings: the whole model as int8 sym per channel, and the exports.
  assertSameAsCli(one.int8, cli(['quantize', model, '--bits', '8', '--scheme', 'sym', '--granularity', 'channel']));
  const out = path.join(dir, 'cli.safetensors');
  execFileSync(CLI, ['export', model, '--to', 'safetensors', '--bits', '8', '--scheme', 'sym', '--granularity', 'channel', '-o', out], { cwd: ROOT });
  assert.ok(readFileSync(out).equals(one.exported.bytes), 'the one-worker safetensors export equals the CLI export');
  const outGguf = path.join(dir, 'cli.gguf');
  execFileSync(CLI, ['export', model, '--to', 'gguf:Q8_0', '-o', outGguf], { cwd: ROOT });
  assert.ok(readFileSync(outGguf).equals(one.gguf.bytes), 'the one-worker GGUF export equals the CLI export');
  // Q4_K: the CLI stops at the unfit tensor; the page lists it as skipped with the core's reason.
  const failed = one.q4k.skipped.find((s) => s.name === 'odd.weight');
  assert.match(failed.reason, /Q4_K: rows of 100 values are not whole blocks of 256/);
  assert.deepEqual(one.q4k.tensors.map((r) => r.name), one.int8.tensors.map((r) => r.name).filter((n) => n !== 'odd.weight'));
  const tickedCli = cli(['quantize', model, '--type', 'q4_k', ...one.q4k.tensors.flatMap((r) => ['--tensor', r.name])]);
  assertSameAsCli({ ...one.q4k, skipped: [] }, { ...tickedCli, skipped: [] });

  for (const workers of [2, 4]) {
    const many = await outcomes(workers);
    assert.deepEqual(many.pareto, one.pareto, `${workers} workers: the sweep's points, formats and front`);
    assert.deepEqual(many.int8, one.int8, `${workers} workers: the int8 table`);
    assert.deepEqual(many.q4k, one.q4k, `${workers} workers: the Q4_K table with its failed tensor`);
    assert.ok(many.exported.bytes.equals(one.exported.bytes), `${workers} workers: the safetensors export's bytes`);
    assert.ok(many.gguf.bytes.equals(one.gguf.bytes), `${workers} workers: the GGUF export's bytes`);
    assert.equal(many.exported.name, one.exported.name);
  }
  assert.deepEqual(session.pageErrors, []);
});

/** The chosen tensor's table, pictures and sweep are done and the footer has read the memory after them: the workers are idle. */
async function idle() {
  await page.waitForFunction(() => {
    const pictures = document.querySelector('.pictures');
    const table = document.getElementById('comparison');
    const memory = document.getElementById('wasm-memory');
    return pictures.dataset.state === 'ready' && !pictures.hasAttribute('aria-busy') && !table.hasAttribute('aria-busy')
      && document.getElementById('pareto-progress').hidden && memory.dataset.after === `${table.dataset.file}:${table.dataset.tensor}`;
  });
}

/**
 * Worker `index`'s next message (a tensor of the next run, the page being idle) starts its job in comlink,
 * then this listener silences the worker's replies and throws: what the page hears of a worker the browser
 * stops under a job (out of memory), an error event and no answer ever.
 */
async function killOnNextJob(index) {
  await idle();
  // The pool names its workers (www/app/pool.js); the page lists them in the order they started.
  const names = await Promise.all(page.workers().map((w) => w.evaluate(() => self.name)));
  const worker = page.workers()[names.indexOf(`worker ${index + 1} of 2`)];
  assert.ok(worker, `worker ${index + 1} of 2 among ${names}`);
  await worker.evaluate(() => {
    self.addEventListener('message', () => {
      self.postMessage = () => {};
      throw new Error('this worker stops here (the test)');
    }, { once: true });
  });
}

/** The page lists a terminated worker until it has closed. */
async function twoWorkers() {
  for (let waited = 0; page.workers().length !== 2 && waited < WAIT; waited += 100) await new Promise((r) => setTimeout(r, 100));
  assert.equal(page.workers().length, 2, 'the dead worker was replaced');
}

test('a worker that dies in the middle of a run: replaced, its tensor an error, the others and the file kept', { timeout: 8 * WAIT }, async () => {
  await load(1, many);
  await page.locator('[data-preset="int8"]').click();
  await runModel();
  const whole = JSON.parse((await download('#model-json')).bytes.toString('utf8'));
  assert.equal(whole.tensors.length, 40);

  await load(2, many);
  await page.locator('[data-preset="int8"]').click();
  assert.equal(page.workers().length, 2, 'the pool of two workers');
  await killOnNextJob(1); // a helper
  await runModel();
  const hurt = JSON.parse((await download('#model-json')).bytes.toString('utf8'));
  assert.equal(hurt.tensors.length, 39, 'every tensor but the lost one');
  assert.equal(hurt.skipped.length, 1);
  assert.match(hurt.skipped[0].reason, /worker 2 of 2 stopped \(.*this worker stops here.*\); it was restarted/);
  assert.deepEqual(hurt.tensors, whole.tensors.filter((r) => r.name !== hurt.skipped[0].name));
  assert.ok((await errorsShown()).some((e) => /1 of 40 tensors failed/.test(e)));
  await twoWorkers();

  // The same page, the same open file: the next run is whole and equals one worker's.
  await runModel();
  const again = JSON.parse((await download('#model-json')).bytes.toString('utf8'));
  assert.deepEqual(again, whole);
  assert.equal(await page.locator('#model-all tbody tr').count(), 40);

  // The primary (worker 1, the file table's owner) dies under a tensor: its successor gets the open files.
  await killOnNextJob(0);
  await runModel();
  const primaryLost = JSON.parse((await download('#model-json')).bytes.toString('utf8'));
  assert.equal(primaryLost.tensors.length, 39);
  assert.match(primaryLost.skipped[0].reason, /worker 1 of 2 stopped (.*this worker stops here.*); it was restarted/);
  assert.deepEqual(primaryLost.tensors, whole.tensors.filter((r) => r.name !== primaryLost.skipped[0].name));
  await twoWorkers();
  // One-shot work on the new primary: another tensor's comparison (the table's int8 cell equals the whole-model row).
  await page.locator('#tensors tr[data-file="pool-many.safetensors"][data-tensor="block.07.weight"] input[type="radio"]').check();
  await page.waitForFunction(() => {
    const table = document.getElementById('comparison');
    return table.dataset.tensor === 'block.07.weight' && !table.hasAttribute('aria-busy') && table.querySelector('td[data-config="int8 sym channel:0"][data-metric="mse"]');
  });
  const shownMse = await page.locator('#comparison td[data-config="int8 sym channel:0"][data-metric="mse"]').getAttribute('data-value');
  assert.equal(Number(shownMse), whole.tensors.find((r) => r.name === 'block.07.weight').mse);
  await runModel();
  assert.deepEqual(JSON.parse((await download('#model-json')).bytes.toString('utf8')), whole);

  // Cancel on the pool: what comes back is the first tensors in the file's order, as one worker computed them.
  await idle();
  await page.evaluate(() => {
    document.getElementById('model-run').click();
    document.getElementById('model-cancel').click();
  });
  await page.waitForFunction(() => document.getElementById('model-result').dataset.state === 'cancelled' && document.getElementById('model-cancel').hidden);
  const partial = JSON.parse((await download('#model-json')).bytes.toString('utf8'));
  assert.ok(partial.tensors.length >= 2 && partial.tensors.length < 40, `${partial.tensors.length} tensors before the cancel (one in flight on each worker at least)`);
  assert.deepEqual(partial.tensors, whole.tensors.slice(0, partial.tensors.length));

  // An export when a worker dies under it: it stops with that worker's error and saves nothing; the next
  // export is whole and equals the CLI's bytes.
  await page.selectOption('#export-format', 'safetensors');
  await killOnNextJob(1);
  const downloads = [];
  page.on('download', (d) => downloads.push(d));
  await page.locator('#export-model').click();
  await page.waitForFunction(() => [...document.querySelectorAll('#errors li')].some((li) => /^Export of pool-many\.safetensors: worker 2 of 2 stopped/.test(li.textContent)));
  await page.locator('#export-cancel').waitFor({ state: 'hidden' });
  assert.equal(downloads.length, 0, 'nothing was saved');
  await twoWorkers();
  const exported = await download('#export-model');
  const out = path.join(dir, 'many-cli.safetensors');
  execFileSync(CLI, ['export', many, '--to', 'safetensors', '--bits', '8', '--scheme', 'sym', '--granularity', 'channel', '-o', out], { cwd: ROOT });
  assert.ok(readFileSync(out).equals(exported.bytes), 'the export after the restart equals the CLI export');
  assert.ok(!(await errorsShown()).some((e) => e.startsWith('Export of')), 'the export error is cleared');
});

test('a tensor that traps the module in a run over two workers: its error in place, the module restarted, the rest kept', { timeout: 6 * WAIT }, async () => {
  await load(2, trapping);
  await page.locator('[data-preset="int8"]').click();
  await runModel();
  const first = JSON.parse((await download('#model-json')).bytes.toString('utf8'));
  assert.deepEqual(first.tensors.map((r) => r.name), ['small.0.weight', 'small.1.weight', 'small.2.weight', 'small.3.weight', 'small.4.weight', 'small.5.weight']);
  assert.equal(first.skipped.length, 1);
  assert.equal(first.skipped[0].name, 'huge');
  assert.match(first.skipped[0].reason, /tensor 'huge' stopped the wasm module .*The module was restarted; what was loaded is still open/);
  assert.ok((await errorsShown()).some((e) => /1 of 7 tensors failed/.test(e) && /huge/.test(e)));
  // The CLI's rows for the six, and the same answer from the restarted pool.
  assertSameAsCli({ ...first, skipped: [] }, { ...cli(['quantize', trapping, '--bits', '8', '--scheme', 'sym', '--granularity', 'channel', ...first.tensors.flatMap((r) => ['--tensor', r.name])]), skipped: [] });
  await runModel();
  const again = JSON.parse((await download('#model-json')).bytes.toString('utf8'));
  assert.deepEqual(again, first);
});

test('the pool size: the cores by default (at most 8), ?workers=N up to 16, kept in the URL', { timeout: 3 * WAIT }, async () => {
  const shown = async (query) => {
    await page.goto(`${origin}/${query}`);
    await page.locator('#tensors tbody[data-file="example-seed-42.safetensors"]').waitFor();
    return Number(await page.locator('#model-workers').getAttribute('data-workers'));
  };
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  assert.equal(await shown(''), Math.min(Math.max(cores, 1), 8));
  assert.equal(page.workers().length, Math.min(Math.max(cores, 1), 8), 'one module worker each');
  for (const bad of ['0', '-2', 'abc', '1.5']) assert.equal(await shown(`?workers=${bad}`), Math.min(Math.max(cores, 1), 8), `workers=${bad} falls back`);
  assert.equal(await shown('?workers=99'), 16);
  assert.equal(await shown('?workers=3'), 3);
  assert.equal(await page.locator('#model-workers').textContent(), '3 workers');
  // The page rewrites its URL as the state changes; the choice of workers stays in it.
  await page.waitForFunction(() => new URLSearchParams(location.search).has('tensor'));
  assert.equal(await page.evaluate(() => new URLSearchParams(location.search).get('workers')), '3');
});

/**
 * The PTQ view with `workers` workers on the embedded text-direction classifier, min–max only: the table
 * (every cell but ms / inference, which is a timing), the bytes of two variants' downloads (one of them
 * measured on another worker than the primary when there are two), and "which layer hurts" for static
 * min–max per tensor with its suggestion.
 */
async function ptqOutcomes(workers) {
  await page.goto(`${origin}/?embed=ptq&workers=${workers}`);
  await page.waitForSelector('#ptq-embedded option', { state: 'attached' });
  await page.selectOption('#ptq-embedded', 'textline-cls');
  await page.click('#ptq-open-embedded');
  await page.waitForFunction(() => document.querySelector('#ptq-table')?.dataset.state === 'fp32', null, { timeout: 4 * WAIT });
  for (const box of await page.$$('#ptq-methods input')) await box.setChecked((await box.getAttribute('value')) === 'minmax');
  await page.click('#ptq-run');
  await page.waitForFunction(() => /Measured \d+ quantized/.test(document.querySelector('#ptq-status')?.textContent ?? ''), null, { timeout: 4 * WAIT });
  assert.match(await page.textContent('#ptq-status'), workers > 1 ? new RegExp(`on ${workers} workers\\.$`) : /copies\.$/);
  const table = await page.$$eval('#ptq-table tbody tr', (trs) => trs.map((tr) => [
    tr.dataset.variant,
    Object.fromEntries([...tr.querySelectorAll('td[data-key]')].filter((td) => td.dataset.key !== 'ms').map((td) => [td.dataset.key, td.textContent])),
  ]));
  const bytes = {};
  for (const label of ['dynamic INT8 per tensor', variantLabel({ kind: 'static', method: 'minmax', granularity: 'channel', activations: 'u8' })]) {
    const [file] = await Promise.all([page.waitForEvent('download'), page.locator(`#ptq-table tr[data-variant="${label}"] button`).click()]);
    bytes[label] = readFileSync(await file.path());
  }
  await page.selectOption('#ptq-blame-variant', variantLabel({ kind: 'static', method: 'minmax', granularity: 'tensor', activations: 'u8' }));
  await page.click('#ptq-blame-run');
  await page.waitForFunction(() => /^Keep \d+ node/.test(document.querySelector('#ptq-suggestion')?.textContent ?? ''), null, { timeout: 10 * WAIT });
  const blame = await page.$$eval('#ptq-blame-table tbody tr', (trs) => trs.map((tr) => [tr.dataset.node, ...[...tr.querySelectorAll('td')].map((td) => td.textContent)]));
  return { table, bytes, blame, suggestion: await page.textContent('#ptq-suggestion') };
}

test('the PTQ view on 1 and 2 workers: the same table, downloads, layer ranking and suggestion', { timeout: 20 * WAIT }, async () => {
  assert.ok(existsSync(path.join(ROOT, 'www/examples/ptq/textline-direction-cls.onnx')), 'www/examples/ptq is missing: run python3 scripts/fetch_ptq_models.py (scripts/setup.sh does)');
  const one = await ptqOutcomes(1);
  const two = await ptqOutcomes(2);
  assert.equal(one.table.length, 6, 'FP32, dynamic per tensor and per channel, static min–max per tensor and per channel, INT4');
  assert.deepEqual(two.table, one.table);
  for (const [label, b] of Object.entries(one.bytes)) assert.ok(two.bytes[label].equals(b), `${label}: the downloaded bytes`);
  assert.equal(one.blame.length, 54, 'the 53 Conv and the Gemm');
  assert.deepEqual(two.blame, one.blame, 'each layer\'s own SQNR, its final SQNR alone and accuracy, in the same order');
  assert.equal(two.suggestion, one.suggestion);
  assert.deepEqual(session.pageErrors, []);
});
