// End-to-end for the whole-model PTQ view: onnxruntime-web is not loaded with the page, only when a model
// is opened, and only from the page's own origin; the embedded classifier's FP32 accuracy; a model
// onnxruntime-web cannot run is named by its op and leaves the open model as it was; the classifier's table
// (FP32, dynamic, static per tensor and per channel, INT4) and MiniLM's equal the CLI's, number for number
// (scripts/ptq_table.mjs: the CLI quantizes, the page's own worker code measures in Node); each quantized
// node's own output SQNR (the worker's nodeOutputErrors over the core's node → tensor map) equals
// onnxruntime's own qdq_loss_debug (scripts/ptq_node_errors.py) on the same QDQ models; the Download panel
// offers the built variants, with the row buttons' bytes, which are the CLI's `ptq -o` bytes; "which layer
// hurts" (one layer quantized at a time, sorted) and "keep N in FP32" equal the CLI's `ptq --blame`.
//
//   bash scripts/setup.sh && bash scripts/build-wasm.sh && node --test tests/e2e/ptq.test.mjs
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { variantLabel } from '../../www/worker/ptq.js';
import { CLI, ROOT, WAIT, startSession } from './lib.mjs';

const MODELS = path.join(ROOT, 'www/examples/ptq');
const LONG = 20 * 60_000;
let session;
let page;
let dir;

before(async () => {
  assert.ok(existsSync(path.join(MODELS, 'textline-direction-cls.onnx')), 'www/examples/ptq is missing: run python3 scripts/fetch_ptq_models.py (scripts/setup.sh does)');
  dir = mkdtempSync(path.join(tmpdir(), 'qp-ptq-'));
  session = await startSession({ query: '?embed=ptq' });
  page = session.page;
  // mount fills the list; an <option> of a closed <select> has no box, so it is never 'visible'.
  await page.waitForSelector('#ptq-embedded option', { state: 'attached' });
});

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The page's percent format (www/shared/format.js percent) for shares of 1 % and more. */
const pct = (share) => (share === 0 ? '0 %' : `${(100 * share).toFixed(2)} %`);

/** The table's rows as { label: { key: text } }. */
async function tableRows() {
  return page.$$eval('#ptq-table tbody tr', (trs) => Object.fromEntries(trs.map((tr) => [
    tr.dataset.variant,
    Object.fromEntries([...tr.querySelectorAll('td[data-key]')].map((td) => [td.dataset.key, td.textContent])),
  ])));
}

test('onnxruntime-web is loaded only when a model is opened, from this origin', async () => {
  const ortRequests = () => session.requests.filter((url) => /onnxruntime|ort-wasm|ort\.wasm/.test(url));
  assert.deepEqual(ortRequests(), [], 'nothing of onnxruntime-web is fetched with the page');
  await page.selectOption('#ptq-embedded', 'textline-cls');
  await page.click('#ptq-open-embedded');
  await page.waitForSelector('#ptq-table tbody tr[data-variant="FP32"]', { timeout: WAIT });
  const fetched = ortRequests();
  assert.ok(fetched.some((url) => url.endsWith('.wasm')), `onnxruntime-web's wasm was fetched: ${fetched.join(', ')}`);
  // A blob: URL's origin is the page's that made it (the worker's wasm glue).
  for (const url of session.requests.filter((u) => !u.startsWith('data:'))) assert.equal(new URL(url).origin, session.origin, `request to another origin: ${url}`);
  const fp32 = (await tableRows()).FP32;
  // 53 of 56 crops: onnxruntime (python) gives the same (scripts/ptq_ort_table.py).
  assert.equal(fp32.accuracy, '94.64 %');
  assert.deepEqual(session.pageErrors, []);
});

test('a model with an op onnxruntime-web cannot run is named by that op, and the open model stays', async () => {
  // A one-node model of an op no onnxruntime build has: written by python's onnx, as a person's file would be.
  const file = path.join(dir, 'unknown-op.onnx');
  execFileSync('python3', ['-c', `
import onnx, onnx.helper as h
x = h.make_tensor_value_info('x', onnx.TensorProto.FLOAT, [1, 4])
y = h.make_tensor_value_info('y', onnx.TensorProto.FLOAT, [1, 4])
g = h.make_graph([h.make_node('NoSuchOp', ['x'], ['y'], name='mystery', domain='example.custom')], 'g', [x], [y])
m = h.make_model(g, opset_imports=[h.make_opsetid('', 13), h.make_opsetid('example.custom', 1)])
m.ir_version = 8  # onnx 1.23 writes IR 14; onnxruntime-web 1.30 reads up to 13
onnx.save(m, '${file}')
`]);
  const calib = path.join(dir, 'x.npy');
  execFileSync('python3', ['-c', `import numpy as np; np.save('${calib}', np.ones((2, 1, 4), np.float32))`]);
  await page.setInputFiles('#ptq-model-file', file);
  await page.setInputFiles('#ptq-calib-files', calib);
  await page.click('#ptq-open-files');
  const error = page.locator('#errors').filter({ hasText: 'NoSuchOp' });
  await error.first().waitFor({ timeout: WAIT });
  assert.match(await error.first().textContent(), /NoSuchOp/);
  assert.match(await page.textContent('#ptq-model-summary'), /textline-direction-cls\.onnx/, 'the open model is still shown');
});

test('the embedded models\' table equals the CLI\'s', { timeout: LONG }, async () => {
  const cliTable = path.join(dir, 'cli-table.json');
  // One method of each kind: min–max (one pass), a histogram percentile and the MSE search (two passes).
  const methods = 'minmax,percentile,mse';
  execFileSync('node', [path.join(ROOT, 'scripts/ptq_table.mjs'), '--cli', CLI, '--methods', methods, '--only', 'textline-cls', '--json', cliTable], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const want = JSON.parse(readFileSync(cliTable, 'utf8'))['textline-cls'];
  await page.selectOption('#ptq-embedded', 'textline-cls');
  await page.click('#ptq-open-embedded');
  await page.waitForSelector('#ptq-table tbody tr[data-variant="FP32"]');
  for (const box of await page.$$('#ptq-methods input')) await box.setChecked(methods.split(',').includes(await box.getAttribute('value')));
  await page.click('#ptq-run');
  await page.waitForFunction(() => /Measured \d+ quantized/.test(document.querySelector('#ptq-status')?.textContent ?? ''), null, { timeout: LONG });
  const got = await tableRows();
  writeFileSync(path.join(dir, 'page-table.json'), JSON.stringify(got, null, 1));
  for (const row of want.rows.filter((r) => r.variant)) {
    const cells = got[row.label];
    assert.ok(cells, `the page has a row '${row.label}'`);
    assert.equal(cells.accuracy, pct(row.accuracy), `${row.label}: accuracy`);
    assert.equal(cells.top1_agreement, pct(row.top1_agreement), `${row.label}: top-1 agreement`);
    assert.equal(cells.sqnr_db, typeof row.sqnr_db === 'number' ? row.sqnr_db.toFixed(2) : '∞', `${row.label}: output SQNR`);
  }
});

test('MiniLM\'s table equals the CLI\'s: dynamic, static minmax, INT4 (no labels: agreement with FP32)', { timeout: LONG }, async () => {
  const cliTable = path.join(dir, 'cli-table-minilm.json');
  execFileSync('node', [path.join(ROOT, 'scripts/ptq_table.mjs'), '--cli', CLI, '--methods', 'minmax', '--only', 'paraphrase-minilm', '--json', cliTable], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const want = JSON.parse(readFileSync(cliTable, 'utf8'))['paraphrase-minilm'];
  await page.selectOption('#ptq-embedded', 'paraphrase-minilm');
  await page.click('#ptq-open-embedded');
  await page.waitForFunction(() => /paraphrase-minilm-l3\.onnx/.test(document.querySelector('#ptq-model-summary')?.textContent ?? ''), null, { timeout: LONG });
  for (const box of await page.$$('#ptq-methods input')) await box.setChecked((await box.getAttribute('value')) === 'minmax');
  await page.click('#ptq-run');
  await page.waitForFunction(() => /Measured \d+ quantized/.test(document.querySelector('#ptq-status')?.textContent ?? ''), null, { timeout: LONG });
  const got = await tableRows();
  for (const row of want.rows.filter((r) => r.variant)) {
    const cells = got[row.label];
    assert.ok(cells, `the page has a row '${row.label}'`);
    assert.equal(cells.accuracy, undefined, 'no labels, no accuracy column');
    assert.equal(cells.neighbour_agreement, pct(row.neighbour_agreement), `${row.label}: nearest sentence = FP32`);
    assert.equal(cells.top1_agreement, pct(row.top1_agreement), `${row.label}: top-1 agreement`);
    assert.equal(cells.sqnr_db, typeof row.sqnr_db === 'number' ? row.sqnr_db.toFixed(2) : '∞', `${row.label}: output SQNR`);
  }
});

test('each node\'s own output SQNR equals onnxruntime\'s qdq_loss_debug on the same QDQ model', { timeout: LONG }, async () => {
  const models = path.join(dir, 'node-errors');
  mkdirSync(models);
  const json = path.join(dir, 'node-errors.json');
  execFileSync('node', [path.join(ROOT, 'scripts/ptq_table.mjs'), '--cli', CLI, '--methods', 'minmax', '--only', 'textline-cls', '--json', json, '--node-errors', models], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const table = JSON.parse(readFileSync(json, 'utf8'))['textline-cls'];
  const measured = table.rows.filter((r) => r.node_errors);
  assert.equal(measured.length, 2, 'static minmax per tensor and per channel');
  for (const row of measured) {
    const ort = JSON.parse(execFileSync('python3', [path.join(ROOT, 'scripts/ptq_node_errors.py'), path.join(MODELS, 'textline-direction-cls.onnx'), path.join(models, row.node_errors.model), path.join(MODELS, 'textline-eval.npz')], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 }));
    const ours = row.node_errors.rows;
    // Every quantized node of the MobileNet (Conv, the hard-swish Add / Mul, the SE blocks' pooling …).
    assert.ok(ours.length > 100, `${row.label}: ${ours.length} nodes`);
    let worst = 0;
    for (const r of ours) {
      assert.ok(r.output in ort, `${row.label}: ORT's qdq_loss_debug has no pair for '${r.output}' (node ${r.node})`);
      worst = Math.max(worst, Math.abs(r.sqnr_db - ort[r.output]));
    }
    // Two engines (onnxruntime-web's wasm kernels against onnxruntime's CPU build, both unoptimised) on the
    // same QDQ model. Measured: per tensor at most 6.5e-5 dB apart, per channel 0.052 dB (deep layers,
    // GlobalAveragePool@9 and the Conv before it; a code that rounds the other way in one engine moves
    // everything after it).
    assert.ok(worst < 0.1, `${row.label}: own-output SQNR differs from ORT's by up to ${worst} dB`);
  }
});

test('the Download panel offers the built variants: the row button\'s bytes, the CLI\'s ptq -o bytes', { timeout: LONG }, async () => {
  // The whole page (the panel is not on ?embed=ptq), its save picker hidden so that downloads take the
  // Blob path Playwright catches (as in export.test.mjs).
  const whole = await startSession();
  try {
    const p = whole.page;
    await p.evaluate(() => { window.showSaveFilePicker = undefined; });
    await p.waitForSelector('#ptq-embedded option', { state: 'attached' });
    assert.equal(await p.locator('#export-format option[value^="ptq:"]').count(), 0, 'no PTQ target before a run');
    await p.selectOption('#ptq-embedded', 'textline-cls');
    await p.click('#ptq-open-embedded');
    await p.waitForSelector('#ptq-table tbody tr[data-variant="FP32"]', { timeout: WAIT });
    for (const box of await p.$$('#ptq-methods input')) await box.setChecked((await box.getAttribute('value')) === 'minmax');
    await p.click('#ptq-run');
    await p.waitForFunction(() => /Measured \d+ quantized/.test(document.querySelector('#ptq-status')?.textContent ?? ''), null, { timeout: LONG });
    const labels = await p.$$eval('#ptq-table tbody tr', (trs) => trs.map((tr) => tr.dataset.variant).filter((l) => l !== 'FP32'));
    const offered = await p.locator('#export-format option[value^="ptq:"]').evaluateAll((os) => os.map((o) => o.value.slice(4)));
    assert.deepEqual(offered, labels, 'every quantized row is a target, in table order');

    const download = async (click) => {
      const [file] = await Promise.all([p.waitForEvent('download'), click()]);
      return { bytes: readFileSync(await file.path()), name: file.suggestedFilename() };
    };
    const model = path.join(MODELS, 'textline-direction-cls.onnx');
    const cases = [
      { variant: { kind: 'static', method: 'minmax', granularity: 'channel', activations: 'u8' }, argv: ['--calib-data', path.join(MODELS, 'textline-calib.npz'), '--engine', `node ${path.join(ROOT, 'scripts/ort_runner.mjs')}`, '--method', 'minmax', '--granularity', 'channel', '--activations', 'u8'] },
      { variant: { kind: 'dynamic', granularity: 'tensor' }, argv: ['--dynamic', '--granularity', 'tensor'] },
    ];
    for (const { variant, argv } of cases) {
      const label = variantLabel(variant);
      await p.selectOption('#export-format', `ptq:${label}`);
      assert.ok(await p.locator('#export-tensor').isDisabled(), `${label}: a whole model only`);
      const panel = await download(() => p.click('#export-model'));
      await p.waitForFunction((l) => document.getElementById('export-status').textContent.includes(l), label);
      const row = await download(() => p.click(`#ptq-table tbody tr[data-variant="${label}"] button`));
      assert.equal(panel.name, row.name, `${label}: the same file name`);
      assert.match(panel.name, /^textline-direction-cls\..+\.onnx$/);
      assert.ok(panel.bytes.equals(row.bytes), `${label}: the panel's bytes differ from the row button's`);
      const out = path.join(dir, `cli-${panel.name}`);
      execFileSync(CLI, ['ptq', model, ...argv, '-o', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] }); // stderr: in the error if it fails
      const want = readFileSync(out);
      assert.equal(panel.bytes.length, want.length, `${label}: size`);
      assert.ok(panel.bytes.equals(want), `${label}: the panel's bytes differ from the CLI's ptq -o`);
    }
    assert.deepEqual(whole.pageErrors, []);
  } finally {
    await whole.close();
  }
});

test('which layer hurts and keep N in FP32 equal the CLI\'s ptq --blame (static minmax per tensor)', { timeout: LONG }, async () => {
  // The CLI runs beside the page (its 56 engine processes take the longer): both quantize each of the 54
  // layers with weights alone, run the 56 labelled crops through onnxruntime-web and rank the final SQNR.
  const cli = promisify(execFile)(CLI, [
    'ptq', path.join(MODELS, 'textline-direction-cls.onnx'), '--calib-data', path.join(MODELS, 'textline-calib.npz'),
    '--engine', `node ${path.join(ROOT, 'scripts/ort_runner.mjs')}`, '--method', 'minmax', '--granularity', 'tensor', '--activations', 'u8',
    // The page measures with onnxruntime-web's graph optimizations on (www/worker/ort.js createSession).
    '--blame', '--eval-engine', `node ${path.join(ROOT, 'scripts/ort_runner.mjs')} --optimization all`, '--eval-data', path.join(MODELS, 'textline-eval.npz'), '--eval-output', 'save_infer_model/scale_0.tmp_1',
    '-o', path.join(dir, 'blame.onnx'), '--json',
  ], { cwd: ROOT, maxBuffer: 256 * 2 ** 20 });
  await page.selectOption('#ptq-embedded', 'textline-cls');
  await page.click('#ptq-open-embedded');
  await page.waitForFunction(() => document.querySelector('#ptq-table')?.dataset.state === 'fp32', null, { timeout: WAIT });
  for (const box of await page.$$('#ptq-methods input')) await box.setChecked((await box.getAttribute('value')) === 'minmax');
  await page.click('#ptq-run');
  await page.waitForFunction(() => /Measured \d+ quantized/.test(document.querySelector('#ptq-status')?.textContent ?? ''), null, { timeout: LONG });
  const variant = variantLabel({ kind: 'static', method: 'minmax', granularity: 'tensor', activations: 'u8' });
  await page.selectOption('#ptq-blame-variant', variant);
  await page.click('#ptq-blame-run');
  await page.waitForFunction(() => /^Keep \d+ node/.test(document.querySelector('#ptq-suggestion')?.textContent ?? ''), null, { timeout: LONG });
  const got = await page.$$eval('#ptq-blame-table tbody tr', (trs) => trs.map((tr) => ({
    node: tr.dataset.node,
    sqnr_db: tr.querySelector('td[data-key="sqnr_db"]').textContent,
    accuracy: tr.lastElementChild.textContent,
  })));
  const want = JSON.parse((await cli).stdout).blame;
  assert.equal(want.layers.length, 54, 'the 53 Conv and the Gemm');
  // Sorted worst first by the final SQNR (only that layer quantized): the same layers, the same order.
  assert.deepEqual(got.map((r) => r.node), want.layers.map((l) => l.node), 'the ranking');
  for (const [i, l] of want.layers.entries()) {
    assert.equal(got[i].sqnr_db, l.sqnr_db.toFixed(2), `${l.node}: final SQNR with only it quantized`);
    assert.equal(got[i].accuracy, pct(l.accuracy), `${l.node}: accuracy with only it quantized`);
  }
  const s = want.suggestion;
  const text = await page.textContent('#ptq-suggestion');
  assert.ok(text.startsWith(`Keep ${s.kept.length} node${s.kept.length === 1 ? '' : 's'} in FP32 (${s.kept.join(', ')}): accuracy ${pct(s.accuracy)} `), text);
  assert.match(text, new RegExp(`FP32: ${pct(want.fp32_accuracy)}\\), output SQNR ${s.sqnr_db.toFixed(2)} dB\\.$`));
  const kept = (await tableRows())[`${variant}, ${s.kept.length} kept in FP32`];
  assert.equal(kept?.accuracy, pct(s.accuracy), 'the measured suggestion is a row of the table');
});
