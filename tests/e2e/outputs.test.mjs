// End-to-end for the Outputs view and the phone width. (1) The digits example's first layer (fc1.weight with
// its fc1.bias) × 8 rows of synthetic gaussian x from seed 7: the page's trace of y[2, 3] — every number of
// every step, and the whole output's error per integer path — equals `quant-playground trace --json` for the
// same file, tensor, rows, seed and element. (2) At 390×844 the page is no wider than the screen: the wide
// tables scroll inside their own box; a screenshot of each is saved to tests/e2e/artifacts.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/outputs.test.mjs
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ARTIFACTS, WAIT, cli, gaussians, npy, startSession } from './lib.mjs';

const sessions = [];
const dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-outputs-'));
after(async () => {
  for (const s of sessions) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (obj, key) => key.split('.').reduce((o, k) => o?.[k], obj);

test('Outputs view: the trace of the example model\'s first layer equals the CLI\'s', { timeout: 5 * WAIT }, async () => {
  const session = await startSession();
  sessions.push(session);
  const { page } = session;
  await page.locator('#tensors tr[data-file="digits-mlp.safetensors"][data-tensor="fc1.weight"] input[type="radio"]').check();
  await page.waitForFunction(() => document.querySelectorAll('#outputs-method option').length > 1 && !document.getElementById('outputs-run').disabled);
  await page.selectOption('#outputs-source', 'synthetic:gaussian');
  await page.fill('#outputs-rows', '8');
  await page.fill('#outputs-seed', '7');
  await page.fill('#outputs-row', '3');
  await page.fill('#outputs-sample', '2');
  await page.selectOption('#outputs-method', 'minmax');
  assert.equal(await page.textContent('#outputs-run'), 'Trace y = W·x on fc1.weight');
  await page.click('#outputs-run');
  await page.locator('#outputs-steps[data-state="ready"][data-row="3"][data-sample="2"]').waitFor();

  const want = cli(['trace', 'www/examples/digits-mlp.safetensors', '--tensor', 'fc1.weight', '--rows', '8', '--seed', '7', '--row', '3', '--sample', '2', '--method', 'minmax']);
  assert.equal(want.bias_tensor, 'fc1.bias');
  assert.equal(want.element.kernel_accumulator, want.element.accumulator);

  // Every number of every step, exactly (the same core functions, natively and in wasm).
  const shown = await page.locator('#outputs-steps dd[data-key]').evaluateAll((dds) => dds.map((dd) => [dd.dataset.key, JSON.parse(dd.dataset.value)]));
  assert.ok(shown.length >= 35, `${shown.length} numbers shown`);
  for (const [key, value] of shown) assert.deepEqual(value, get(want, key), key);
  assert.equal(await page.locator('#outputs-steps > li').count(), 12);
  for (const key of ['element.multiplier_q31', 'element.shift', 'element.high_mul', 'element.divided', 'element.code', 'element.zero_point_terms.input_zero_point_term']) {
    assert.ok(shown.some(([k]) => k === key), `${key} is shown`);
  }
  // The whole output's error: MSE exactly, SQNR to 1e-12 relative (f64 sums), max abs error exactly.
  const errors = await page.locator('#outputs-errors td[data-metric]').evaluateAll((tds) => tds.map((td) => [td.dataset.path, td.dataset.metric, JSON.parse(td.dataset.value)]));
  assert.equal(errors.length, 9);
  for (const [p, metric, value] of errors) {
    const expected = want[p][metric];
    if (metric === 'sqnr_db') assert.ok(Math.abs(value - expected) <= 1e-12 * Math.abs(expected), `${p} ${metric}: ${value} vs ${expected}`);
    else assert.equal(value, expected, `${p} ${metric}`);
  }
  // What the page says in words matches the numbers: the final code and the requantization.
  const text = await page.textContent('#outputs-steps');
  assert.ok(text.includes(String(want.element.multiplier_q31)) && text.includes('RoundingDivideByPOT'));
  assert.match(await page.textContent('#outputs-of'), /fc1\.weight W \[256, 64\] \+ fc1\.bias; x: 8 rows of gaussian/);

  await page.locator('section.outputs').screenshot({ path: path.join(ARTIFACTS, 'outputs-trace.png') });  await page.locator('section.outputs').screenshot({ path: path.join(ARTIFACTS, 'outputs-trace.png') });

  // x from a dropped activation file: 6 rows of 64 (fc1's input size) in an .npy, traced at y[5, 200]
  // with percentile ranges; the numbers equal `trace --acts FILE`.
  const acts = path.join(dir, 'acts-6x64.npy');
  writeFileSync(acts, npy(gaussians(6 * 64, 11, 0.5).map((v) => Math.abs(v)), [6, 64]));
  await page.setInputFiles('#file-input', acts);
  await page.locator('#tensors tr[data-file="acts-6x64.npy"]').first().waitFor();
  await page.locator('#tensors tr[data-file="digits-mlp.safetensors"][data-tensor="fc1.weight"] input[type="radio"]').check();
  const option = await page.locator('#outputs-source option').evaluateAll((os) => os.find((o) => o.textContent.startsWith('acts-6x64.npy:'))?.value);
  assert.ok(option, 'the opened activation file is offered as x');
  await page.selectOption('#outputs-source', option);
  assert.ok(await page.locator('#outputs-rows').isDisabled(), 'rows come from the file');
  await page.fill('#outputs-row', '200');
  await page.fill('#outputs-sample', '5');
  await page.selectOption('#outputs-method', 'percentile:99.99');
  await page.click('#outputs-run');
  await page.locator('#outputs-steps[data-state="ready"][data-row="200"][data-sample="5"]').waitFor();
  const fromFile = cli(['trace', 'www/examples/digits-mlp.safetensors', '--tensor', 'fc1.weight', '--acts', acts, '--row', '200', '--sample', '5', '--method', 'percentile:99.99']);
  assert.equal(fromFile.m, 6);
  const shownFromFile = await page.locator('#outputs-steps dd[data-key]').evaluateAll((dds) => dds.map((dd) => [dd.dataset.key, JSON.parse(dd.dataset.value)]));
  for (const [key, value] of shownFromFile) assert.deepEqual(value, get(fromFile, key), `from the file: ${key}`);
  assert.match(await page.textContent('#outputs-of'), /x: acts-6x64\.npy: \S+ as 6 rows of 64; ranges by/);
  const outside = session.requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== session.origin);
  assert.deepEqual(outside, [], 'no request leaves 127.0.0.1');
  assert.deepEqual(session.pageErrors, []);
});

test('phone width: at 390×844 the page does not scroll sideways; wide tables scroll in their own box', { timeout: 5 * WAIT }, async () => {
  const session = await startSession({ viewport: { width: 390, height: 844 } });
  sessions.push(session);
  const { page } = session;
  await page.locator('.digits[data-state="ready"]').waitFor();
  await page.locator('#comparison[data-state="ready"]').waitFor();
  await page.locator('#calibration-table[data-state="ready"]').waitFor();
  // Fill the other wide tables too: the Outputs view's steps and error table.
  await page.waitForFunction(() => !document.getElementById('outputs-run').disabled);
  await page.click('#outputs-run');
  await page.locator('#outputs-steps[data-state="ready"]').waitFor();

  const widths = await page.evaluate(() => ({
    scroll: document.documentElement.scrollWidth,
    inner: window.innerWidth,
    // Whatever sticks out of the viewport, for the message when this fails.
    wide: [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5 && !e.closest('.table-wrap, .tensor-list'))
      .slice(0, 8)
      .map((e) => `${e.tagName.toLowerCase()}#${e.id}.${[...e.classList].join('.')} → ${Math.round(e.getBoundingClientRect().right)}`),
  }));
  assert.ok(widths.scroll <= widths.inner, `the page is ${widths.scroll} px wide at ${widths.inner}: ${widths.wide.join('; ')}`);
  // The accuracy table is inside a box that scrolls sideways when it is wider than the box.
  const box = await page.locator('.digits-results').evaluate((e) => ({ overflow: getComputedStyle(e).overflowX, width: e.clientWidth, inner: e.scrollWidth }));
  assert.ok(box.overflow === 'auto' || box.overflow === 'scroll', `the digits table's box has overflow-x ${box.overflow}`);
  assert.ok(box.width <= widths.inner);
  for (const id of ['digits-table', 'comparison', 'calibration-table', 'outputs-errors']) {
    const wrap = await page.locator(`#${id}`).evaluate((t) => {
      const w = t.closest('.table-wrap');
      return w && { overflow: getComputedStyle(w).overflowX, right: w.getBoundingClientRect().right };
    });
    assert.ok(wrap, `#${id} sits in a .table-wrap`);
    assert.ok(wrap.overflow === 'auto' && wrap.right <= widths.inner + 0.5, `#${id}'s box: ${JSON.stringify(wrap)}`);
  }
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(ARTIFACTS, 'phone-390.png') });
  await page.locator('section.outputs').screenshot({ path: path.join(ARTIFACTS, 'phone-390-outputs.png') });
  await page.screenshot({ path: path.join(ARTIFACTS, 'phone-390-full.png'), fullPage: true });
  assert.deepEqual(session.pageErrors, []);
});
