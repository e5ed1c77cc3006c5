// End-to-end: the built page (dist/, served by `vite preview`) in Debian's Chromium, driven by playwright-core.
// Every number checked here is the raw data-value of a cell, compared exactly with the native CLI's --json.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/
//
// The test builds the CLI (cargo build --bin quant-playground) and rebuilds dist/ when it is missing or older
// than the page's sources; it never builds the wasm (that is scripts/build-wasm.sh).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, WAIT, bf16, cli, f16, f32, gaussians, npy, safetensors, safetensorsHeader, startSession } from './lib.mjs';

let session;
let browser;
let page;
let origin;
let fixtures;
let requests;
let pageErrors;

// ---- fixtures, written by a tiny writer (deterministic values) -------------------------------------------

function writeFixtures(dir) {
  const file = (name, bytes) => {
    const p = path.join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  const proj = gaussians(48 * 80, 1, 0.05);
  for (let i = 0; i < 80; i++) proj[5 * 80 + i] *= 20; // an outlier row: per-channel scales earn their keep

  // One F16 tensor of 2^29 elements (1 GiB, sparse on disk): as f32 it is 2 GiB, more than one wasm32
  // allocation can hold, so the module traps. The page must restart it and keep going.
  const hugeLength = 2 ** 30;
  // One row of 2^29 values: a tensor of many rows is compared in chunks of rows now (issue 20), but a
  // row longer than a chunk is read whole, and 2 GiB as f32 still stops the module.
  const hugeHeader = safetensorsHeader([{ name: 'huge', dtype: 'F16', shape: [1, 2 ** 29], length: hugeLength }]);
  const huge = file('huge.safetensors', hugeHeader);
  truncateSync(huge, hugeHeader.length + hugeLength);

  return {
    safetensors: file(
      'fixture.safetensors',
      safetensors(
        [
          { name: 'proj.weight', dtype: 'F32', shape: [48, 80], bytes: f32(proj) },
          { name: 'proj.bias', dtype: 'F32', shape: [48], bytes: f32(gaussians(48, 2, 0.01)) },
          { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'F16', shape: [32, 40], bytes: f16(32 * 40, 3) },
          { name: 'norm.weight', dtype: 'BF16', shape: [16, 24], bytes: bf16(gaussians(16 * 24, 5, 0.3)) },
          { name: 'steps', dtype: 'I32', shape: [4], bytes: Buffer.from(new Int32Array([1, 2, 3, 4]).buffer) },
        ],
        { format: 'pt' },
      ),
    ),
    npy: file('weights.npy', npy(gaussians(24 * 33, 4, 1), [24, 33])),
    huge,
    garbage: Buffer.from('this is no header!!!'), // 20 bytes
    // says its JSON header is 4096 bytes long; the whole file has 62
    lyingHeader: Buffer.concat([Buffer.from([0, 16, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}')]),
  };
}

const METRICS = ['bytes_quantized', 'compression', 'bits_per_weight', 'mse', 'sqnr_db', 'max_abs_err', 'cosine', 'clipped_share'];
const rawValue = (row, metric) => String(metric === 'compression' ? row.bytes_fp32 / row.bytes_quantized : row[metric]);

/** The page's table as { configs: [..columns], cells: { config: { metric: data-value } } }. */
async function readTable() {
  return page.evaluate(() => {
    const table = document.getElementById('comparison');
    const cells = {};
    for (const td of table.querySelectorAll('td[data-config][data-metric]')) {
      if (td.dataset.metric === 'time_ms') continue; // measured in the page, not a number the CLI prints
      (cells[td.dataset.config] ??= {})[td.dataset.metric] = td.dataset.value;
    }
    const configs = [...table.querySelectorAll('thead th[data-config]')].map((th) => th.dataset.config);
    return { file: table.dataset.file, tensor: table.dataset.tensor, configs, cells };
  });
}

/** Waits until the table shows `tensor` of `fileName` with every config in `configs`, and no work in flight. */
async function waitForTable(fileName, tensor, configs) {
  const columns = configs.map((c) => `td[data-config="${c}"][data-metric="sqnr_db"]`);
  await page.waitForFunction(
    ({ fileName, tensor, columns }) => {
      const table = document.getElementById('comparison');
      return table.dataset.file === fileName && table.dataset.tensor === tensor && !table.hasAttribute('aria-busy') && columns.every((c) => table.querySelector(c));
    },
    { fileName, tensor, columns },
  );
}

async function chooseTensor(fileName, tensor) {
  await page.locator(`#tensors tr[data-file="${fileName}"][data-tensor="${tensor}"] input[type="radio"]`).check();
}

async function chooseSettings({ bits, scheme, range, granularity, groupSize, scaleDtype }) {
  await page.selectOption('#bits', String(bits));
  await page.selectOption('#scheme', scheme);
  if (scheme === 'symmetric') await page.selectOption('#range', range);
  await page.selectOption('#granularity', granularity);
  if (granularity === 'group') await page.fill('#group-size', String(groupSize));
  await page.selectOption('#scale-dtype', scaleDtype);
}

async function errorTexts() {
  return page.locator('#errors li').allTextContents();
}

/** Drags a file over the page (the overlay shows) and drops it (the overlay goes). */
async function dropFile(name, bytes) {
  const dataTransfer = await page.evaluateHandle(({ name, bytes }) => {
    const transfer = new DataTransfer();
    transfer.items.add(new File([new Uint8Array(bytes)], name));
    return transfer;
  }, { name, bytes: [...bytes] });
  await page.dispatchEvent('main', 'dragenter', { dataTransfer });
  await page.dispatchEvent('main', 'dragover', { dataTransfer });
  assert.equal(await page.locator('#drop-overlay').isVisible(), true, 'the drop overlay shows while dragging');
  await page.dispatchEvent('main', 'drop', { dataTransfer });
  assert.equal(await page.locator('#drop-overlay').isHidden(), true, 'the drop overlay goes after the drop');
}

// ---- set-up and tear-down -------------------------------------------------------------------------------

before(async () => {
  fixtures = { dir: mkdtempSync(path.join(tmpdir(), 'quant-playground-e2e-')) };
  Object.assign(fixtures, writeFixtures(fixtures.dir));
  session = await startSession();
  ({ browser, page, origin, requests, pageErrors } = session);
}, { timeout: 15 * 60_000 }); // a first cargo build of the CLI can take minutes

after(async () => {
  await session?.close();
  if (fixtures?.dir) rmSync(fixtures.dir, { recursive: true, force: true });
});

// ---- the tests (they share one page and run in order) -----------------------------------------------------

test('(a) opens with the synthetic example and shows fc2.weight', { timeout: 2 * WAIT }, async () => {
  await waitForTable('example-seed-42.safetensors', 'fc2.weight', ['int8 sym channel:0', 'int4 sym channel:0']);
  const { configs, cells } = await readTable();
  assert.deepEqual(configs, ['fp32', 'fp16', 'bf16', 'int8 sym channel:0', 'int4 sym channel:0']);
  assert.equal(cells.fp32.sqnr_db, 'inf');
  assert.equal(await page.locator('td[data-config="fp32"][data-metric="sqnr_db"]').textContent(), '∞');

  const sqnr = Object.fromEntries(configs.slice(1).map((c) => [c, Number(cells[c].sqnr_db)]));
  assert.ok(sqnr['int8 sym channel:0'] > 30 && sqnr['int8 sym channel:0'] < 60, `INT8 SQNR ${sqnr['int8 sym channel:0']} dB`);
  assert.ok(sqnr.fp16 > sqnr.bf16 && sqnr.bf16 > sqnr['int8 sym channel:0'] && sqnr['int8 sym channel:0'] > sqnr['int4 sym channel:0']);
  // 128×256 f32; INT8 per channel: one byte per weight plus 128 f32 scales; INT4 packs two per byte
  assert.equal(cells.fp32.bytes_quantized, String(128 * 256 * 4));
  assert.equal(cells['int8 sym channel:0'].bytes_quantized, String(128 * 256 + 128 * 4));
  assert.equal(cells['int4 sym channel:0'].bytes_quantized, String((128 * 256) / 2 + 128 * 4));
  assert.equal(await page.locator('#comparison td.best[data-metric="sqnr_db"]').getAttribute('data-config'), 'fp16');
  assert.equal(await page.locator('#comparison td.best[data-metric="bytes_quantized"]').getAttribute('data-config'), 'int4 sym channel:0');

  assert.deepEqual(await page.locator('#tensors tbody[data-file="example-seed-42.safetensors"] tr[data-tensor]').evaluateAll((rows) => rows.map((r) => r.dataset.tensor)), [
    'fc1.weight',
    'fc1.bias',
    'fc2.weight',
    'head.weight',
  ]);
  assert.ok(await page.locator('#tensors tr[data-file="example-seed-42.safetensors"][data-tensor="fc2.weight"] input[type="radio"]').isChecked());
  // The digits example's weights are listed beside it (issue 7), not chosen.
  assert.deepEqual(await page.locator('#tensors tbody[data-file="digits-mlp.safetensors"] tr[data-tensor]').evaluateAll((rows) => rows.map((r) => r.dataset.tensor)), [
    'fc1.bias',
    'fc1.weight',
    'fc2.bias',
    'fc2.weight',
    'fc3.bias',
    'fc3.weight',
  ]);
  // Chromium validates relaxed SIMD, so the worker chose the relaxed build (www/pkg-relaxed).
  assert.equal(await page.locator('#kernel').getAttribute('data-kernel'), 'relaxed-simd');
  assert.equal(await page.locator('#errors').isHidden(), true);
  await page.screenshot({ path: path.join(ARTIFACTS, 'main.png') });
});

/** Two SQNR cells (strings, 'inf' allowed) equal, or within the last bit of an f64 log10 of each other. */
function sameDb(got, want, what) {
  if (got === want) return;
  const [g, w] = [Number(got), Number(want)];
  assert.ok(Number.isFinite(g) && Number.isFinite(w) && Math.abs(g - w) <= 1e-13 * Math.abs(w), `${what}: ${got} where the CLI says ${want}`);
}

test('(b) a dropped-in file shows exactly the numbers of the native CLI', { timeout: 3 * WAIT }, async () => {
  await page.setInputFiles('#file-input', [fixtures.safetensors, fixtures.npy]);
  await page.locator('#tensors tbody[data-file="weights.npy"]').waitFor();

  const steps = page.locator('#tensors tr[data-file="fixture.safetensors"][data-tensor="steps"]');
  assert.match(await steps.textContent(), /not quantizable/);
  assert.equal(await steps.locator('input[type="radio"]').isDisabled(), true);

  const cases = [
    {
      file: 'fixture.safetensors', path: fixtures.safetensors, tensor: 'proj.weight',
      settings: { bits: 8, scheme: 'symmetric', range: 'narrow', granularity: 'channel', scaleDtype: 'f32' },
      args: ['--scheme', 'sym', '--granularity', 'channel'],
    },
    {
      file: 'fixture.safetensors', path: fixtures.safetensors, tensor: 'model.layers.0.self_attn.q_proj.weight',
      settings: { bits: 3, scheme: 'asymmetric', granularity: 'group', groupSize: 16, scaleDtype: 'f16' },
      args: ['--scheme', 'asym', '--granularity', 'group:16', '--scale-dtype', 'f16'],
    },
    {
      file: 'fixture.safetensors', path: fixtures.safetensors, tensor: 'norm.weight',
      settings: { bits: 4, scheme: 'asymmetric', granularity: 'tensor', scaleDtype: 'f32' },
      args: ['--scheme', 'asym', '--granularity', 'tensor'],
    },
    {
      file: 'weights.npy', path: fixtures.npy, tensor: 'weights',
      settings: { bits: 6, scheme: 'symmetric', range: 'full', granularity: 'group', groupSize: 8, scaleDtype: 'f32' },
      args: ['--scheme', 'sym', '--full-range', '--granularity', 'group:8'],
    },
  ];
  for (const c of cases) {
    const compared = cli(['compare', c.path, '--tensor', c.tensor, ...c.args]);
    const rows = compared.tensors;
    if (![8, 4].includes(c.settings.bits)) {
      rows.push(...cli(['quantize', c.path, '--tensor', c.tensor, '--bits', String(c.settings.bits), ...c.args]).tensors);
    }
    await chooseTensor(c.file, c.tensor);
    await chooseSettings(c.settings);
    await waitForTable(c.file, c.tensor, rows.map((r) => r.config));

    const shown = await readTable();
    assert.deepEqual(shown.configs, rows.map((r) => r.config), `${c.file} ${c.tensor}: columns`);
    const expected = Object.fromEntries(rows.map((row) => [row.config, Object.fromEntries(METRICS.map((m) => [m, rawValue(row, m)]))]));
    // Every cell as the CLI's --json, SQNR to the last bit of log10: the sums are the same in wasm and
    // natively, but wasm's log10 (Rust's libm) and glibc's may differ in the last bit of an f64.
    const withoutDb = (cells) => Object.fromEntries(Object.entries(cells).map(([k, v]) => [k, { ...v, sqnr_db: undefined }]));
    assert.deepEqual(withoutDb(shown.cells), withoutDb(expected), `${c.file} ${c.tensor}: every cell equals the CLI's --json`);
    for (const [config, want] of Object.entries(expected)) sameDb(shown.cells[config]?.sqnr_db, want.sqnr_db, `${c.file} ${c.tensor} ${config} SQNR`);
    const notes = await page.locator('#notes li').allTextContents();
    const shortGroups = rows.filter((r) => r.short_last_group).map((r) => `${r.config}: the last group of each row has ${r.short_last_group} element`);
    assert.deepEqual(notes.filter((n) => n.includes('last group')).map((n) => n.replace(/s? \(.*$/, '')), shortGroups);
  }

  // The headline check, as the CLI's quantize prints it: INT8 symmetric per channel.
  await chooseTensor('fixture.safetensors', 'proj.weight');
  await chooseSettings(cases[0].settings);
  await waitForTable('fixture.safetensors', 'proj.weight', ['int8 sym channel:0']);
  const [int8] = cli(['quantize', fixtures.safetensors, '--tensor', 'proj.weight', '--bits', '8', '--scheme', 'sym', '--granularity', 'channel']).tensors;
  const cell = (metric) => page.locator(`#comparison td[data-config="int8 sym channel:0"][data-metric="${metric}"]`).getAttribute('data-value');
  sameDb(await cell('sqnr_db'), String(int8.sqnr_db), 'int8 sym channel:0 SQNR');
  assert.equal(await cell('bytes_quantized'), String(int8.bytes_quantized));
  assert.equal(int8.bytes_quantized, 48 * 80 + 48 * 4);
});

test('(c) a malformed file shows an error naming it, and what was loaded stays usable', { timeout: 2 * WAIT }, async () => {
  const before = await readTable();
  assert.equal(before.tensor, 'proj.weight');

  await dropFile('bad.safetensors', fixtures.garbage);
  await page.locator('#errors li', { hasText: 'bad.safetensors' }).waitFor();
  assert.deepEqual(await readTable(), before, 'the table is unchanged');
  assert.equal(await page.locator('#tensors tbody[data-file="bad.safetensors"]').count(), 0);

  await page.setInputFiles('#file-input', { name: 'liar.safetensors', mimeType: 'application/octet-stream', buffer: fixtures.lyingHeader });
  const liar = page.locator('#errors li', { hasText: 'liar.safetensors' });
  await liar.waitFor();
  assert.match(await liar.textContent(), /header/);
  assert.equal(await page.locator('#errors li', { hasText: 'bad.safetensors' }).count(), 1, 'earlier errors stay until dismissed');
  assert.deepEqual(await readTable(), before, 'the table is unchanged');
  await page.screenshot({ path: path.join(ARTIFACTS, 'error.png') });

  // Everything opened before is still listed and still computes.
  const files = await page.locator('#tensors tbody').evaluateAll((bodies) => bodies.map((b) => b.dataset.file));
  assert.deepEqual(files, ['example-seed-42.safetensors', 'digits-mlp.safetensors', 'fixture.safetensors', 'weights.npy']);
  await chooseTensor('example-seed-42.safetensors', 'head.weight');
  await waitForTable('example-seed-42.safetensors', 'head.weight', ['int8 sym channel:0']);
  assert.ok(Number((await readTable()).cells['int8 sym channel:0'].sqnr_db) > 30);
});

test('(f) a tensor that traps the wasm module: error in place, module restarted, files kept', { timeout: 3 * WAIT }, async () => {
  const before = await readTable();
  await page.setInputFiles('#file-input', fixtures.huge); // its only tensor is chosen and computed at once
  const error = page.locator('#errors li', { hasText: 'huge.safetensors' });
  await error.waitFor();
  assert.match(await error.textContent(), /stopped the wasm module .*restarted/);
  assert.deepEqual(await readTable(), before, 'the table is unchanged');

  await chooseTensor('fixture.safetensors', 'proj.bias');
  await waitForTable('fixture.safetensors', 'proj.bias', ['int8 sym channel:0']);
  const rows = cli(['compare', fixtures.safetensors, '--tensor', 'proj.bias', '--scheme', 'sym', '--granularity', 'channel']).tensors;
  const shown = await readTable();
  for (const row of rows) assert.equal(shown.cells[row.config].sqnr_db, rawValue(row, 'sqnr_db'), `${row.config} after the restart`);
});

test('keyboard: arrow keys move the tensor choice', { timeout: WAIT }, async () => {
  await page.locator('#tensors tr[data-file="example-seed-42.safetensors"][data-tensor="fc2.weight"] input[type="radio"]').check();
  await waitForTable('example-seed-42.safetensors', 'fc2.weight', ['int8 sym channel:0']);
  await page.locator('#tensors tr[data-file="example-seed-42.safetensors"][data-tensor="fc2.weight"] input[type="radio"]').focus();
  await page.keyboard.press('ArrowDown');
  await waitForTable('example-seed-42.safetensors', 'head.weight', ['int8 sym channel:0']);
});

test('closing a file removes it and its errors, and nothing else', { timeout: WAIT }, async () => {
  const before = await readTable();
  await page.getByRole('button', { name: 'close huge.safetensors' }).click();
  await page.locator('#tensors tbody[data-file="huge.safetensors"]').waitFor({ state: 'detached' });
  const files = await page.locator('#tensors tbody').evaluateAll((bodies) => bodies.map((b) => b.dataset.file));
  assert.deepEqual(files, ['example-seed-42.safetensors', 'digits-mlp.safetensors', 'fixture.safetensors', 'weights.npy']);
  assert.equal(await page.locator('#errors li', { hasText: 'huge.safetensors' }).count(), 0);
  assert.deepEqual(await readTable(), before);
});

test('dark colour scheme', { timeout: WAIT }, async () => {
  await page.emulateMedia({ colorScheme: 'dark' });
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const [r, g, b] = background.match(/\d+/g).map(Number);
  assert.ok(r + g + b < 3 * 64, `dark background, got ${background}`);
  await page.screenshot({ path: path.join(ARTIFACTS, 'dark.png') });
  await page.emulateMedia({ colorScheme: 'light' });
});

test('(d) no request leaves 127.0.0.1, and the CSP forbids it', { timeout: WAIT }, async () => {
  assert.ok(requests.length > 0);
  const elsewhere = requests.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin);
  assert.deepEqual(elsewhere, []);
  assert.equal(requests.filter((url) => url.endsWith('.wasm')).length, 1, 'the module is fetched once and reused');
  assert.deepEqual(pageErrors, []);

  // The policy is in the built page and in the server's header, and it blocks a fetch to another origin.
  const response = await page.request.get(`${origin}/`);
  assert.match(response.headers()['content-security-policy'], /connect-src 'self'/);
  const probe = await browser.newPage();
  try {
    await probe.goto(`${origin}/`);
    const violation = await probe.evaluate(async () => {
      const seen = new Promise((resolve) => document.addEventListener('securitypolicyviolation', (e) => resolve(e.effectiveDirective)));
      await fetch('http://192.0.2.1/').catch(() => {});
      return seen;
    });
    assert.equal(violation, 'connect-src');
  } finally {
    await probe.close();
  }
});
