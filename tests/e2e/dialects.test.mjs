// End-to-end for the calibration view's "compare two dialects": both selects list exactly what the core
// serves (calibration_dialects), the two columns' numbers equal the CLI's
// `calibrate FILE --tensor NAME --method A,B --bits 8 --scheme sym --json` (range and scale as f32, exactly;
// sqnr_db to 1e-12 relative, as wasm's and glibc's log10 may differ in the last bit; the rest exactly), each
// column's "follows …" line is the served `about`, both searched curves are on one chart with their chosen
// thresholds, and the pair is kept in the URL (`dialects=A,B`) across a reload.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/dialects.test.mjs
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ARTIFACTS, ROOT, WAIT, cli, startSession } from './lib.mjs';

let session;
let page;
let dir;
let wasm;
let served; // calibration_dialects() as the core serves it
let example;
const EXAMPLE = 'example-seed-42.safetensors';
const TENSOR = 'fc2.weight';

before(async () => {
  wasm = await import(pathToFileURL(path.join(ROOT, 'www/pkg/quant_playground.js')).href);
  await wasm.default({ module_or_path: readFileSync(path.join(ROOT, 'www/pkg/quant_playground_bg.wasm')) });
  served = JSON.parse(wasm.calibration_dialects());
  dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-dialects-'));
  example = path.join(dir, EXAMPLE);
  writeFileSync(example, wasm.example_file(42));
  session = await startSession();
  ({ page } = session);
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The dialect table shows `pair` for `tensor` at 8-bit symmetric. */
async function waitForPair(pair) {
  await page.waitForFunction(({ tensor, pair }) => {
    const table = document.getElementById('dialect-table');
    return table.dataset.state === 'ready' && table.dataset.tensor === tensor && table.dataset.pair === pair
      && table.dataset.bits === '8' && table.dataset.scheme === 'symmetric';
  }, { tensor: TENSOR, pair: pair.join(',') });
}

/** Both columns as [{ method, range, scale, … }] from the cells' raw data-values. */
async function readColumns() {
  return page.locator('#dialect-table').evaluate((table) => ['a', 'b'].map((slot) => {
    const column = { method: table.querySelector(`thead th[data-slot="${slot}"]`).dataset.method };
    for (const td of table.querySelectorAll(`tbody td[data-slot="${slot}"]`)) column[td.dataset.metric] = JSON.parse(td.dataset.value);
    return column;
  }));
}

/** Page and CLI agree on both columns. */
async function checkPair(pair) {
  await waitForPair(pair);
  const fromCli = cli(['calibrate', example, '--tensor', TENSOR, '--method', pair.join(','), '--bits', '8', '--scheme', 'sym']);
  const shown = await readColumns();
  assert.deepEqual(shown.map((c) => c.method), pair);
  pair.forEach((label, i) => {
    const want = fromCli.methods.find((m) => m.method === label);
    assert.ok(want, `the CLI reports ${label}`);
    const got = shown[i];
    assert.deepEqual(got.range.map(Math.fround), want.range.map(Math.fround), `${label} range`);
    assert.equal(Math.fround(got.scale), Math.fround(want.scale), `${label} scale`);
    for (const key of ['zero_point', 'mse', 'clipped_share']) assert.equal(got[key], want[key], `${label} ${key}`);
    assert.ok(Math.abs(got.sqnr_db - want.sqnr_db) <= 1e-12 * Math.abs(want.sqnr_db), `${label}: SQNR ${got.sqnr_db} vs the CLI's ${want.sqnr_db}`);
  });
  // Each column's "follows …" line is the served one.
  const about = await page.locator('#dialect-about li').evaluateAll((items) => items.map((li) => ({ method: li.dataset.method, text: li.textContent })));
  assert.deepEqual(about.map((a) => a.method), pair);
  about.forEach((a) => assert.ok(a.text.endsWith(served.find((s) => s.label === a.method).about), `${a.method}: ${a.text}`));
  return fromCli;
}

test('compare two dialects: the served list, the CLI\'s numbers, both curves, the pair in the URL', { timeout: 4 * WAIT }, async () => {
  await page.locator(`#tensors tbody[data-file="${EXAMPLE}"]`).waitFor();
  // Both selects list exactly the served labels, and are reached by their labels.
  for (const name of ['First', 'Second']) {
    const options = await page.getByLabel(name, { exact: true }).locator('option').evaluateAll((os) => os.map((o) => o.value));
    assert.deepEqual(options, served.map((s) => s.label), `${name} select`);
  }
  assert.ok(served.some((s) => s.label === 'entropy' && s.dialect === 'ort'));
  assert.ok(served.some((s) => s.label === 'entropy:trt' && s.dialect === 'trt'));

  // The default pair: onnxruntime's entropy against TensorRT's.
  assert.equal(await page.getByLabel('First', { exact: true }).inputValue(), 'entropy');
  assert.equal(await page.getByLabel('Second', { exact: true }).inputValue(), 'entropy:trt');
  const cal = await checkPair(['entropy', 'entropy:trt']);
  // The two rules choose different thresholds on this tensor: the columns are not one copied twice.
  assert.notDeepEqual(cal.methods[0].range, cal.methods[1].range);
  const curves = JSON.parse(await page.locator('#dialect-chart').getAttribute('data-curves'));
  assert.deepEqual(curves.map((c) => c.label), ['entropy (KL, ORT)', 'entropy (KL, TensorRT)']);
  for (const c of curves) assert.ok(c.points > 100 && Number.isFinite(c.chosen), JSON.stringify(c));
  assert.ok(await page.locator('#dialect-chart canvas').count());
  assert.match(await page.locator('#dialect-legend').textContent(), /entropy \(KL, ORT\): [\d,]+ thresholds from .* chose .*entropy \(KL, TensorRT\): /);
  await page.locator('.dialects').screenshot({ path: path.join(ARTIFACTS, 'calibration-dialects.png') });

  // Another pair: ORT's entropy with its KL in f64, and an MSE search (a different curve on the same chart).
  await page.getByLabel('Second', { exact: true }).selectOption('entropy:f64');
  await checkPair(['entropy', 'entropy:f64']);
  await page.getByLabel('First', { exact: true }).selectOption('mse:trt');
  await checkPair(['mse:trt', 'entropy:f64']);
  const mixed = JSON.parse(await page.locator('#dialect-chart').getAttribute('data-curves'));
  assert.equal(mixed.length, 2, JSON.stringify(mixed));
  assert.equal(new URL(page.url()).searchParams.get('dialects'), 'mse:trt,entropy:f64');

  // A method that searches nothing: its column still has its numbers, the legend says so.
  await page.getByLabel('First', { exact: true }).selectOption('minmax');
  await checkPair(['minmax', 'entropy:f64']);
  assert.match(await page.locator('#dialect-legend').textContent(), /min-max searches no threshold\./);

  // The URL keeps the pair across a reload; an unknown label falls back to the default pair.
  await page.reload();
  await page.locator(`#tensors tbody[data-file="${EXAMPLE}"]`).waitFor();
  await checkPair(['minmax', 'entropy:f64']);
  assert.equal(await page.getByLabel('First', { exact: true }).inputValue(), 'minmax');
  const url = new URL(page.url());
  url.searchParams.set('dialects', 'entropy,nosuch');
  await page.goto(url.href);
  await page.locator(`#tensors tbody[data-file="${EXAMPLE}"]`).waitFor();
  await checkPair(['entropy', 'entropy:trt']);

  assert.deepEqual(session.pageErrors, []);
});
