// End-to-end for the views beyond the first table: the tensor browser (sort, filter, totals, ticks), presets and
// added columns, the URL, the pictures (their numbers checked against the CLI where the CLI has them), the
// whole-model run (its JSON download equal to the CLI's `quantize --json`), Cancel, phone width, and the
// time a ~90 MB safetensors file takes from drop to a listed table and to a whole-model table (printed,
// never asserted: speed is measured, not tested).
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, ROOT, WAIT, bf16, cli, f16, f32, gaussians, random, safetensors, safetensorsHeader, startSession } from './lib.mjs';

let session;
let page;
let origin;
let dir;
const files = {};

/** A model-like file: a few layers of different shapes and dtypes, an integer tensor, a 1-D norm. */
function writeModel() {
  const outliers = gaussians(64 * 96, 11, 0.04);
  for (let i = 0; i < 96; i++) outliers[7 * 96 + i] *= 30;
  return safetensors([
    { name: 'embed.weight', dtype: 'F32', shape: [100, 64], bytes: f32(gaussians(100 * 64, 10, 0.1)) },
    { name: 'layers.0.attn.q_proj.weight', dtype: 'F32', shape: [64, 96], bytes: f32(outliers) },
    { name: 'layers.0.attn.k_proj.weight', dtype: 'F16', shape: [64, 64], bytes: f16(64 * 64, 12) },
    { name: 'layers.0.mlp.up.weight', dtype: 'BF16', shape: [128, 64], bytes: bf16(gaussians(128 * 64, 13, 0.02)) },
    { name: 'layers.0.norm.weight', dtype: 'F32', shape: [64], bytes: f32(gaussians(64, 14, 1).map((v) => 1 + 0.1 * v)) },
    { name: 'position_ids', dtype: 'I64', shape: [8], bytes: Buffer.from(new BigInt64Array(8).map((_, i) => BigInt(i)).buffer) },
  ], { format: 'pt' });
}

/**
 * About 90 MB of f32 in the shapes of a small transformer: an embedding [8192, 512] and 6 layers of
 * q, k, v, o [512, 512], up [2048, 512], down [512, 2048] and two norms. Written in pieces (no 90 MB array).
 */
function writeLarge(file) {
  const tensors = [{ name: 'embed.weight', shape: [8192, 512] }];
  for (let l = 0; l < 6; l++) {
    for (const p of ['q', 'k', 'v', 'o']) tensors.push({ name: `layers.${l}.attn.${p}_proj.weight`, shape: [512, 512] });
    tensors.push({ name: `layers.${l}.mlp.up.weight`, shape: [2048, 512] }, { name: `layers.${l}.mlp.down.weight`, shape: [512, 2048] });
    tensors.push({ name: `layers.${l}.norm1.weight`, shape: [512] }, { name: `layers.${l}.norm2.weight`, shape: [512] });
  }
  for (const t of tensors) {
    t.dtype = 'F32';
    t.length = t.shape.reduce((a, b) => a * b, 1) * 4;
  }
  const parts = [safetensorsHeader(tensors)];
  const uniform = random(99);
  for (const t of tensors) {
    const values = new Float32Array(t.length / 4);
    // Cheap bell-shaped values (sum of three uniforms), so that writing 90 MB takes well under a second.
    for (let i = 0; i < values.length; i++) values[i] = (uniform() + uniform() + uniform() - 1.5) * 0.05;
    parts.push(Buffer.from(values.buffer));
  }
  writeFileSync(file, Buffer.concat(parts));
  return { tensors: tensors.length, bytes: parts.reduce((a, b) => a + b.length, 0) };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-views-'));
  files.model = path.join(dir, 'model.safetensors');
  writeFileSync(files.model, writeModel());
  files.large = path.join(dir, 'large-90mb.safetensors');
  files.largeInfo = writeLarge(files.large);
  session = await startSession();
  ({ page, origin } = session);
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- helpers ------------------------------------------------------------------------------------------

async function waitForComparison(file, tensor, configs = []) {
  await page.waitForFunction(({ file, tensor, configs }) => {
    const table = document.getElementById('comparison');
    return table.dataset.file === file && table.dataset.tensor === tensor && !table.hasAttribute('aria-busy')
      && configs.every((c) => table.querySelector(`thead th[data-config="${c}"]`));
  }, { file, tensor, configs });
}

/** The pictures show `tensor` and the Pareto sweep is done. */
async function waitForPictures(tensor) {
  await page.waitForFunction((tensor) => {
    const pictures = document.querySelector('.pictures');
    return pictures.dataset.state === 'ready' && pictures.dataset.tensor === tensor && !pictures.hasAttribute('aria-busy')
      && document.getElementById('pareto-progress').hidden && document.querySelector('#pareto-chart canvas');
  }, tensor);
}

const columns = () => page.locator('#comparison thead th[data-config]').evaluateAll((ths) => ths.map((th) => th.dataset.config));
const query = () => page.evaluate(() => Object.fromEntries(new URLSearchParams(location.search)));

async function chooseTensor(file, tensor) {
  await page.locator(`#tensors tr[data-file="${file}"][data-tensor="${tensor}"] input[type="radio"]`).check();
}

async function openFile(file) {
  await page.setInputFiles('#file-input', file);
  await page.locator(`#tensors tbody[data-file="${path.basename(file)}"]`).waitFor();
}

function cliArgs(spec) {
  const args = ['--bits', String(spec.bits), '--scheme', spec.scheme, '--granularity', spec.granularity];
  if (spec.calib) args.push('--calib', spec.calib);
  if (spec.full) args.push('--full-range');
  return args;
}

async function runModel() {
  await page.locator('#model-run').click();
  await page.waitForFunction(() => {
    const result = document.getElementById('model-result');
    return !result.hidden && document.getElementById('model-cancel').hidden && result.dataset.state;
  });
}

/**
 * The page's document equals the CLI's, field by field, exactly — except sqnr_db, which is 10·log10 of a
 * ratio: wasm's log10 (Rust's libm) and glibc's may differ in the last bit, so it must agree to 1e-12.
 */
function assertSameDocument(fromPage, fromCli) {
  const strip = (doc) => ({ ...doc, file: undefined, tensors: doc.tensors.map((r) => ({ ...r, sqnr_db: undefined })) });
  assert.deepEqual(strip(fromPage), strip(fromCli));
  fromPage.tensors.forEach((r, i) => {
    const want = fromCli.tensors[i].sqnr_db;
    if (typeof want !== 'number') assert.equal(r.sqnr_db, want, r.name);
    else assert.ok(Math.abs(r.sqnr_db - want) <= 1e-12 * Math.abs(want), `${r.name}: SQNR ${r.sqnr_db} vs the CLI's ${want}`);
  });
}

/** Each tick re-renders the list, so take the first ticked box until none is left. */
async function untickAll() {
  const ticked = page.locator('#tensors input.tick:checked');
  while (await ticked.count()) await ticked.first().click();
}

async function downloadText(button) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator(button).click()]);
  return { name: download.suggestedFilename(), text: readFileSync(await download.path(), 'utf8') };
}

// ---- the tests (one page, in order) ---------------------------------------------------------------------

test('the pictures of the example: histogram bins, scales per channel, a Pareto front equal to the CLI sweep', { timeout: 3 * WAIT }, async () => {
  await waitForComparison('example-seed-42.safetensors', 'fc2.weight', ['int8 sym channel:0']);
  await waitForPictures('fc2.weight');
  assert.equal(await page.locator('#values-chart').getAttribute('data-bins'), '256');
  assert.equal(await page.locator('#scales-chart').getAttribute('data-slots'), '128'); // fc2.weight is [128, 256]
  assert.equal(await page.locator('#errors-chart').getAttribute('data-config'), 'int8 sym channel:0');
  // 70 integer specs, and every served block / ggml format: rows of 256 are whole blocks of each.
  const fixedFormats = cli(['formats']).filter((f) => f.family === 'block' || f.family === 'ggml').map((f) => f.label);
  assert.equal(await page.locator('#pareto-chart').getAttribute('data-points'), String(7 * 5 * 2 + fixedFormats.length));
  assert.deepEqual((await page.locator('#pareto-chart').getAttribute('data-formats')).split('|'), fixedFormats);
  assert.match(await page.locator('#values-legend').textContent(), /32,768 values in 256 bins/);
  await page.locator('.pictures').screenshot({ path: path.join(ARTIFACTS, 'pictures.png') });

  // The front the page draws equals the front of the CLI's own rows for the same 70 configurations and
  // the formats the sweep adds for this shape ([64, 96]: whole blocks of 32, no K-quant).
  await page.setInputFiles('#file-input', files.model);
  const tensor = 'layers.0.attn.q_proj.weight';
  await chooseTensor('model.safetensors', tensor);
  await waitForPictures(tensor);
  const rows = [];
  for (const scheme of ['sym', 'asym']) {
    for (const granularity of ['tensor', 'channel:0', 'group:32', 'group:64', 'group:128']) {
      for (let bits = 2; bits <= 8; bits++) rows.push(...cli(['quantize', files.model, '--tensor', tensor, ...cliArgs({ bits, scheme, granularity })]).tensors);
    }
  }
  const swept = (await page.locator('#pareto-chart').getAttribute('data-formats')).split('|');
  assert.ok(swept.includes('nf4') && swept.includes('q8_0') && !swept.includes('q4_k'), swept.join(', '));
  for (const label of swept) rows.push(cli(['compare', files.model, '--tensor', tensor, '--format', label]).tensors.at(-1));
  const sqnr = (r) => (r.sqnr_db === 'inf' ? Infinity : r.sqnr_db);
  const front = rows.filter((r) => !rows.some((o) => o.bits_per_weight <= r.bits_per_weight && sqnr(o) >= sqnr(r) && (o.bits_per_weight < r.bits_per_weight || sqnr(o) > sqnr(r))));
  const shown = (await page.locator('#pareto-chart').getAttribute('data-front')).split('|');
  assert.deepEqual(new Set(shown), new Set(front.map((r) => r.config)));
  assert.ok(shown.length >= 3, `a front of ${shown.length} points`);
});

test('tensor browser: sort, filter, totals and ticks', { timeout: WAIT }, async () => {
  const order = () => page.locator('#tensors tbody[data-file="model.safetensors"] tr[data-tensor]').evaluateAll((rows) => rows.map((r) => r.dataset.tensor));
  const fileOrder = await order();
  assert.deepEqual(fileOrder, ['embed.weight', 'layers.0.attn.q_proj.weight', 'layers.0.attn.k_proj.weight', 'layers.0.mlp.up.weight', 'layers.0.norm.weight', 'position_ids']);

  await page.locator('#tensors button[data-sort="size"]').click(); // largest first
  assert.deepEqual(await order(), ['embed.weight', 'layers.0.attn.q_proj.weight', 'layers.0.mlp.up.weight', 'layers.0.attn.k_proj.weight', 'layers.0.norm.weight', 'position_ids']);
  assert.equal(await page.locator('#tensors th[aria-sort]').getAttribute('aria-sort'), 'descending');
  await page.keyboard.press('Enter'); // the sort button keeps the focus: smallest first
  assert.equal((await order())[0], 'position_ids');
  await page.keyboard.press('Enter'); // back to the file's order
  assert.deepEqual(await order(), fileOrder);

  await page.locator('#tensor-filter').fill('layers weight');
  assert.deepEqual(await order(), ['layers.0.attn.q_proj.weight', 'layers.0.attn.k_proj.weight', 'layers.0.mlp.up.weight', 'layers.0.norm.weight']);
  const totals = page.locator('#tensors tfoot tr.totals');
  assert.equal(await totals.getAttribute('data-tensors'), '4'); // none of the example's names has "layers"
  assert.equal(await totals.getAttribute('data-params'), String(64 * 96 + 64 * 64 + 128 * 64 + 64));
  assert.match(await totals.textContent(), /hidden by the filter/);
  await page.locator('#tensor-filter').press('Escape');
  assert.equal((await order()).length, 6);

  // Ticks choose the tensors of the whole-model run; the button says so.
  await chooseTensor('model.safetensors', 'embed.weight');
  await page.getByRole('checkbox', { name: 'include layers.0.attn.q_proj.weight in the whole-model run' }).check();
  await page.getByRole('checkbox', { name: 'include layers.0.mlp.up.weight in the whole-model run' }).check();
  assert.match(await page.locator('#model-run').textContent(), /the 2 ticked tensors of model\.safetensors/);
  assert.equal(await page.locator('#tensors tr[data-tensor="position_ids"] input.tick').isDisabled(), true);
});

test('presets, added columns and the URL; the page restores from the URL', { timeout: 2 * WAIT }, async () => {
  await page.locator('[data-preset="int4"]').click();
  await waitForComparison('model.safetensors', 'embed.weight', ['int8 asym group:32', 'int4 asym group:32']);
  assert.deepEqual(await columns(), ['fp32', 'fp16', 'bf16', 'int8 asym group:32', 'int4 asym group:32']);
  await page.locator('#add-column').click(); // keeps int4 asym group:32 when the settings change
  await page.locator('[data-preset="int8"]').click();
  await page.selectOption('#bits', '3');
  await waitForComparison('model.safetensors', 'embed.weight', ['int3 sym channel:0', 'int4 asym group:32']);
  assert.deepEqual(await columns(), ['fp32', 'fp16', 'bf16', 'int8 sym channel:0', 'int4 sym channel:0', 'int3 sym channel:0', 'int4 asym group:32']);
  assert.equal(await page.locator('#comparison th[data-config="int4 asym group:32"] button.remove').count(), 1);

  // Every cell of the added column is the CLI's number for that configuration.
  const [row] = cli(['quantize', files.model, '--tensor', 'embed.weight', ...cliArgs({ bits: 4, scheme: 'asym', granularity: 'group:32' })]).tensors;
  for (const metric of ['bytes_quantized', 'mse', 'sqnr_db', 'max_abs_err', 'cosine', 'clipped_share']) {
    assert.equal(await page.locator(`#comparison td[data-config="int4 asym group:32"][data-metric="${metric}"]`).getAttribute('data-value'), String(row[metric]), metric);
  }
  // The time row: a duration for every column.
  const times = await page.locator('#comparison td[data-metric="time_ms"]').evaluateAll((tds) => tds.map((td) => Number(td.dataset.value)));
  assert.equal(times.length, 7);
  assert.ok(times.every((t) => Number.isFinite(t) && t >= 0), `times ${times}`);

  assert.deepEqual(await query(), {
    file: 'model.safetensors', tensor: 'embed.weight', bits: '3', scheme: 'sym', range: 'narrow', granularity: 'channel', scales: 'f32', calibration: 'minmax', add: 'int4 asym group:32',
  });
  // The methods the core reports are offered, and only those.
  assert.deepEqual(await page.locator('#calibration option').evaluateAll((os) => os.map((o) => o.value)), ['minmax', 'percentile:99.99', 'mse', 'entropy', 'entropy:trt']);

  // A shared link: the configuration and the columns come back; the tensor of the example file too.
  const link = `${origin}/?file=example-seed-42.safetensors&tensor=head.weight&bits=5&scheme=asym&granularity=group:16&scales=f16&add=int2+sym+tensor&log=1`;
  const other = await session.browser.newPage();
  try {
    await other.goto(link);
    await other.waitForFunction(() => document.getElementById('comparison').dataset.tensor === 'head.weight'
      && document.querySelector('#comparison th[data-config="int2 sym tensor"]'));
    assert.deepEqual(await other.locator('#comparison thead th[data-config]').evaluateAll((ths) => ths.map((th) => th.dataset.config)),
      ['fp32', 'fp16', 'bf16', 'int8 asym group:16 f16-scales', 'int4 asym group:16 f16-scales', 'int5 asym group:16 f16-scales', 'int2 sym tensor']);
    assert.equal(await other.locator('#values-log').isChecked(), true);
    assert.equal(await other.locator('#group-size').inputValue(), '16');
  } finally {
    await other.close();
  }

  // Removing the added column.
  await page.locator('#comparison th[data-config="int4 asym group:32"] button.remove').click();
  await page.waitForFunction(() => !document.querySelector('#comparison th[data-config="int4 asym group:32"]') && !document.getElementById('comparison').hasAttribute('aria-busy'));
  assert.equal((await query()).add, undefined);
  await page.selectOption('#bits', '8');
});

test('error histogram follows the chosen column; log counts', { timeout: WAIT }, async () => {
  await chooseTensor('model.safetensors', 'layers.0.attn.q_proj.weight');
  await waitForPictures('layers.0.attn.q_proj.weight');
  await page.selectOption('#error-config', 'int4 sym channel:0');
  await page.waitForFunction(() => document.getElementById('errors-chart').dataset.config === 'int4 sym channel:0');
  assert.equal((await query()).error, 'int4 sym channel:0');
  const [int4] = cli(['quantize', files.model, '--tensor', 'layers.0.attn.q_proj.weight', ...cliArgs({ bits: 4, scheme: 'sym', granularity: 'channel:0' })]).tensors;
  const legend = await page.locator('#errors-legend').textContent();
  assert.ok(legend.includes(`SQNR ${int4.sqnr_db.toFixed(2)} dB`), legend);
  await page.locator('#values-log').check();
  assert.equal((await query()).log, '1');
  await page.locator('#values-log').uncheck();
});

test('calibration methods: the comparison and a whole-model run equal the CLI with --calib', { timeout: 3 * WAIT }, async () => {
  const tensor = 'layers.0.attn.q_proj.weight'; // one row has 30× outliers
  await chooseTensor('model.safetensors', tensor);
  await page.locator('[data-preset="int8"]').click();
  await page.selectOption('#calibration', 'percentile:99.99');
  await page.waitForFunction(() => document.querySelector('#comparison td[data-config="int8 sym channel:0"]') && !document.getElementById('comparison').hasAttribute('aria-busy')
    && document.querySelector('#comparison th[data-config="int8 sym channel:0"] small').textContent.includes('percentile'));
  assert.equal((await query()).calibration, 'percentile:99.99');
  for (const bits of [8, 4]) {
    const [row] = cli(['quantize', files.model, '--tensor', tensor, ...cliArgs({ bits, scheme: 'sym', granularity: 'channel:0', calib: 'percentile:99.99' })]).tensors;
    assert.equal(row.calibration, 'percentile:99.99');
    for (const metric of ['bytes_quantized', 'mse', 'max_abs_err', 'cosine', 'clipped_share']) {
      const shown = await page.locator(`#comparison td[data-config="int${bits} sym channel:0"][data-metric="${metric}"]`).getAttribute('data-value');
      assert.equal(shown, String(row[metric]), `int${bits} ${metric}`);
    }
  }
  // Every method's range is drawn on the value histogram; clipping methods lie inside min-max.
  await waitForPictures(tensor);
  await page.waitForFunction(() => document.getElementById('scales-config').textContent.includes('percentile'));
  const ranges = JSON.parse(await page.locator('#values-chart').getAttribute('data-ranges'));
  assert.deepEqual(ranges.map((r) => r[0]), ['minmax', 'percentile:99.99', 'mse', 'entropy', 'entropy:trt']);
  const [, lo, hi] = ranges[0];
  for (const [method, a, b] of ranges) assert.ok(a >= lo && b <= hi, `${method} [${a}, ${b}] inside [${lo}, ${hi}]`);

  await page.selectOption('#calibration', 'mse');
  await untickAll();
  await runModel();
  const fromPage = JSON.parse((await downloadText('#model-json')).text);
  assertSameDocument(fromPage, cli(['quantize', files.model, ...cliArgs({ bits: 8, scheme: 'sym', granularity: 'channel:0', calib: 'mse' })]));
  await page.screenshot({ path: path.join(ARTIFACTS, 'calibration.png'), fullPage: true });
  await page.selectOption('#calibration', 'minmax');
});

test('whole model: the JSON download equals the CLI, ticked tensors equal the CLI with --tensor', { timeout: 3 * WAIT }, async () => {
  await chooseTensor('model.safetensors', 'embed.weight');
  // Unticked: every float tensor, with the integer one skipped.
  await untickAll();
  await page.locator('[data-preset="int4"]').click();
  await page.fill('#group-size', '16');
  assert.match(await page.locator('#model-run').textContent(), /all 5 float tensors of model\.safetensors as int4 asym group:16/);
  await runModel();
  const { name, text } = await downloadText('#model-json');
  assert.equal(name, 'model.int4_asym_group_16.json');
  const fromPage = JSON.parse(text);
  const fromCli = cli(['quantize', files.model, ...cliArgs({ bits: 4, scheme: 'asym', granularity: 'group:16' })]);
  assert.equal(fromPage.file, 'model.safetensors');
  assertSameDocument(fromPage, fromCli);
  assert.equal(fromPage.skipped[0].name, 'position_ids');

  const csv = await downloadText('#model-csv');
  const lines = csv.text.trim().split('\n');
  assert.equal(lines.length, 1 + 5);
  assert.match(lines[0], /^name,dtype,shape,elements,config,/);
  assert.match(lines[2], /^layers\.0\.attn\.q_proj\.weight,F32,64x96,6144,int4 asym group:16,/);

  // The worst tensor by SQNR is listed first.
  const worst = await page.locator('#model-worst tbody tr').first().getAttribute('data-tensor');
  const lowest = [...fromCli.tensors].sort((a, b) => a.sqnr_db - b.sqnr_db)[0].name;
  assert.equal(worst, lowest);
  assert.equal(await page.locator('#model-summary').getAttribute('data-stored'), String(fromCli.tensors.reduce((a, r) => a + r.bytes_quantized, 0)));
  await page.locator('.model').screenshot({ path: path.join(ARTIFACTS, 'model.png') });

  // Ticked tensors only: the CLI with --tensor for each.
  await page.getByRole('checkbox', { name: 'include layers.0.attn.k_proj.weight in the whole-model run' }).check();
  await page.getByRole('checkbox', { name: 'include layers.0.norm.weight in the whole-model run' }).check();
  await runModel();
  const ticked = JSON.parse((await downloadText('#model-json')).text);
  const tickedCli = cli(['quantize', files.model, '--tensor', 'layers.0.attn.k_proj.weight', '--tensor', 'layers.0.norm.weight', ...cliArgs({ bits: 4, scheme: 'asym', granularity: 'group:16' })]);
  assertSameDocument(ticked, tickedCli);
  await untickAll();
});

test('a ~90 MB safetensors file: time to the listed table and to the whole-model table; Cancel', { timeout: 6 * WAIT }, async () => {
  const name = path.basename(files.large);
  const started = Date.now();
  await page.setInputFiles('#file-input', files.large);
  await page.locator(`#tensors tbody[data-file="${name}"]`).waitFor();
  const listed = Date.now() - started;
  await waitForComparison(name, 'embed.weight', ['int8 asym group:16']);
  const compared = Date.now() - started;
  await waitForPictures('embed.weight');
  const pictured = Date.now() - started;

  // The page stays responsive while the whole model runs: the longest main-thread task is recorded.
  await page.locator('[data-preset="int8"]').click();
  await waitForComparison(name, 'embed.weight', ['int8 sym channel:0']);
  await waitForPictures('embed.weight');
  await page.evaluate(() => {
    window.longestTask = 0;
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) window.longestTask = Math.max(window.longestTask, entry.duration);
    }).observe({ type: 'longtask' });
  });
  const runStarted = Date.now();
  await page.locator('#model-run').click();
  await page.waitForFunction(() => !document.getElementById('model-result').hidden && document.getElementById('model-cancel').hidden);
  const whole = Date.now() - runStarted;
  const longestTask = Math.round(await page.evaluate(() => window.longestTask));
  const rows = await page.locator('#model-all tbody tr').count();
  assert.equal(rows, files.largeInfo.tensors);
  // Cancel: stops between tensors and keeps what was done.
  // (the worker checks between tensors, so Cancel pressed at once still lets the first tensor finish)
  // Both clicks in one task of the page: a whole-model run of ~0.5 s could otherwise end before a second
  // click from the test lands, and the Cancel button is hidden again by then.
  await page.evaluate(() => {
    document.getElementById('model-run').click();
    document.getElementById('model-cancel').click();
  });
  await page.waitForFunction(() => document.getElementById('model-result').dataset.state === 'cancelled' && document.getElementById('model-cancel').hidden);
  assert.match(await page.locator('#model-status').textContent(), new RegExp(`^Cancelled after \\d+ of ${files.largeInfo.tensors} tensors`));
  const partial = await page.locator('#model-all tbody tr').count();
  assert.ok(partial >= 1 && partial < files.largeInfo.tensors, `${partial} tensors before the cancel`);

  const mb = (files.largeInfo.bytes / 1e6).toFixed(1);
  const report = `${mb} MB safetensors, ${files.largeInfo.tensors} tensors: drop → listed ${listed} ms; → comparison of embed.weight [8192, 512] ${compared} ms; → pictures and the sweep (70 configurations and the block / ggml formats) ${pictured} ms; click → whole-model table (int8 sym channel:0) ${whole} ms; longest main-thread task meanwhile ${longestTask || '< 50'} ms`;
  console.log(`# ${report}`);
  writeFileSync(path.join(ARTIFACTS, 'timings-90mb.txt'), `${report}\n`);
});

test('phone width and the full page, light and dark', { timeout: 2 * WAIT }, async () => {
  await chooseTensor('example-seed-42.safetensors', 'fc2.weight');
  await waitForPictures('fc2.weight');
  await page.screenshot({ path: path.join(ARTIFACTS, 'full.png'), fullPage: true });
  // The README's picture (docs/screenshot.png is copied from this one): a fresh page from a shared link, the
  // table and the pictures together.
  const fresh = await session.browser.newPage({ viewport: { width: 1280, height: 1400 } });
  try {
    await fresh.goto(`${origin}/?tensor=fc2.weight&file=example-seed-42.safetensors&bits=8&scheme=sym&granularity=channel&log=1`);
    await fresh.waitForFunction(() => document.querySelector('.pictures').dataset.state === 'ready' && document.querySelector('#pareto-chart canvas'));
    await fresh.screenshot({ path: path.join(ARTIFACTS, 'overview.png') });
  } finally {
    await fresh.close();
  }
  await page.emulateMedia({ colorScheme: 'dark' });
  await waitForPictures('fc2.weight');
  await page.screenshot({ path: path.join(ARTIFACTS, 'full-dark.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });

  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px at phone width`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'phone.png'), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
});

test('nothing left 127.0.0.1 and nothing threw', { timeout: WAIT }, async () => {
  const elsewhere = session.requests.filter((url) => !url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== origin);
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(session.pageErrors, []);
  assert.ok(ROOT);
});
