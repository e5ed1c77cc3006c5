// End-to-end: the page opens on the embedded digits example (issue 7). Without any file dropped, its accuracy
// table equals `quant-playground eval --json` (accuracy and size_bytes exactly, per configuration; the times are
// this tab's), the worst configuration's confusion matrix and mistakes are drawn, and a stroke drawn on the
// canvas with pointer events gets FP32 and INT8 predictions. The built dist/ also works under a sub-path,
// example files included, and no request leaves 127.0.0.1.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, WAIT, cli, serveDistUnder, startSession } from './lib.mjs';

let session;
let page;
let expected;

before(async () => {
  session = await startSession();
  ({ page } = session);
  expected = cli(['eval']);
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
});

const readRows = () =>
  page.locator('#digits-table tbody tr').evaluateAll((rows) => rows.map((r) => ({ config: r.dataset.config, accuracy: r.dataset.accuracy, size_bytes: r.dataset.sizeBytes, ms: Number(r.dataset.ms) })));

test('the digits example: the accuracy table equals the CLI eval --json, with no file dropped', { timeout: 2 * WAIT }, async () => {
  await page.locator('.digits[data-state="ready"]').waitFor();
  const shown = await readRows();
  assert.deepEqual(
    shown.map(({ config, accuracy, size_bytes }) => ({ config, accuracy, size_bytes })),
    expected.rows.map((r) => ({ config: r.config, accuracy: String(r.accuracy), size_bytes: String(r.size_bytes) })),
  );
  for (const r of shown) assert.ok(Number.isFinite(r.ms) && r.ms > 0, `${r.config}: ${r.ms} ms`);
  const fp32 = shown.find((r) => r.config === 'fp32');
  assert.ok(Number(fp32.accuracy) >= 0.96, `fp32 accuracy ${fp32.accuracy}`);

  // The worst configuration (lowest accuracy) is marked; its confusion matrix counts every test digit.
  const worst = expected.rows.reduce((a, b) => (b.accuracy < a.accuracy ? b : a));
  assert.equal(await page.locator('#digits-table tr.worst').getAttribute('data-config'), worst.config);
  assert.equal(await page.locator('#digits-confusion').getAttribute('data-config'), worst.config);
  const confusion = await page.locator('#digits-confusion tr').evaluateAll((rows) => rows.slice(1).map((r) => [...r.querySelectorAll('td')].map((td) => Number(td.textContent || 0))));
  assert.equal(confusion.length, 10);
  assert.equal(confusion.flat().reduce((a, b) => a + b, 0), expected.test_rows);
  assert.equal(confusion.reduce((sum, row, i) => sum + row[i], 0), worst.correct);

  const mistakes = page.locator('#digits-mistakes li');
  assert.ok((await mistakes.count()) >= 1 && (await mistakes.count()) <= 8);
  assert.equal(await page.locator('#digits-mistakes li canvas').count(), await mistakes.count());
  const inked = await page.locator('#digits-mistakes canvas').first().evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    return [...d].filter((v, i) => i % 4 === 0 && v < 128).length;
  });
  assert.ok(inked > 0, 'a misclassified digit is drawn');
  await page.locator('.digits').screenshot({ path: path.join(ARTIFACTS, 'digits.png') });
});

test('drawing a digit: a vertical stroke gets FP32 and INT8 predictions', { timeout: WAIT }, async () => {
  const box = await page.locator('#digits-canvas').boundingBox();
  const x = box.x + box.width / 2;
  await page.mouse.move(x, box.y + box.height * 0.15);
  await page.mouse.down();
  await page.mouse.move(x + 2, box.y + box.height * 0.85, { steps: 12 });
  await page.mouse.up();
  await page.locator('#digits-predictions[data-state="ready"]').waitFor();
  const predictions = await page.locator('#digits-predictions tr[data-config]').evaluateAll((rows) => rows.map((r) => [r.dataset.config, Number(r.dataset.class)]));
  const configs = predictions.map(([c]) => c);
  assert.ok(configs.includes('fp32') && configs.some((c) => c.startsWith('int8')), `configs ${configs}`);
  for (const [config, digit] of predictions) assert.ok(Number.isInteger(digit) && digit >= 0 && digit <= 9, `${config}: ${digit}`);
  // The 8×8 input the model saw has ink, in the middle columns only (a vertical stroke).
  const seen = await page.locator('#digits-seen').evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let dark = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 200) dark += 1;
    return dark;
  });
  assert.ok(seen > 0, 'the model input shows the stroke');
  await page.locator('.digits-draw').screenshot({ path: path.join(ARTIFACTS, 'digits-draw.png') });

  await page.locator('#digits-clear').click();
  assert.equal(await page.locator('#digits-predictions').getAttribute('data-state'), 'empty');
});

test('dist/ under a sub-path: the example loads from there, and nothing leaves 127.0.0.1', { timeout: 2 * WAIT }, async () => {
  const prefix = '/course/week3/quant/';
  const server = await serveDistUnder(prefix);
  const { origin } = server;
  const fresh = await session.browser.newPage();
  const requests = [];
  const errors = [];
  fresh.on('request', (r) => requests.push(r.url()));
  fresh.on('pageerror', (e) => errors.push(e.message));
  try {
    const opened = Date.now();
    await fresh.goto(`${origin}${prefix}`);
    await fresh.locator('.digits[data-state="ready"]').waitFor({ timeout: WAIT });
    console.log(`# digits table under ${prefix}: ${Date.now() - opened} ms after navigation`);
    assert.equal(await fresh.locator('#digits-table tbody tr').count(), expected.rows.length);
    const examples = requests.filter((u) => /digits-.*\.(npy|safetensors)$/.test(u));
    assert.ok(examples.length >= 4, `the example's four files were fetched: ${examples}`);
    for (const u of requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:'))) {
      assert.equal(new URL(u).origin, origin, u);
      assert.ok(new URL(u).pathname.startsWith(prefix), `${u} is under ${prefix}`);
    }
    assert.deepEqual(errors, []);
  } finally {
    await fresh.close();
    await server.close();
  }
});

test('the main page: nothing left 127.0.0.1 and nothing threw', { timeout: WAIT }, async () => {
  const elsewhere = session.requests.filter((u) => !u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== session.origin);
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(session.pageErrors, []);
  assert.equal(await page.locator('#errors').isHidden(), true);
});
