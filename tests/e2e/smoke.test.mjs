// End-to-end: the built page (dist/, served by `vite preview`) in Debian's Chromium, driven by playwright-core.
// Every number checked here is the raw data-value of a cell, compared exactly with the native CLI's --json.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/
//
// The test builds the CLI (cargo build --bin quant-playground) and rebuilds dist/ when it is missing or older
// than the page's sources; it never builds the wasm (that is scripts/build-wasm.sh).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ARTIFACTS = path.join(ROOT, 'tests/e2e/artifacts');
const CLI = path.join(ROOT, 'target/debug/quant-playground');
const WAIT = 60_000;
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

let server;
let browser;
let page;
let origin;
let fixtures;
const requests = [];
const pageErrors = [];

// ---- fixtures, written by a tiny writer (deterministic values) -------------------------------------------

function random(seed) {
  // mulberry32: a small deterministic generator; uniform in [0, 1)
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussians(count, seed, scale) {
  const uniform = random(seed);
  return Array.from({ length: count }, () => scale * Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform()));
}

/** The 8-byte length and the JSON header of a .safetensors file; tensors: [{ name, dtype, shape, length }]. */
function safetensorsHeader(tensors, metadata) {
  const header = metadata ? { __metadata__: metadata } : {};
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.length] };
    offset += t.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, Buffer.from(json)]);
}

/** tensors: [{ name, dtype, shape, bytes }] */
function safetensors(tensors, metadata) {
  const header = safetensorsHeader(tensors.map((t) => ({ ...t, length: t.bytes.length })), metadata);
  return Buffer.concat([header, ...tensors.map((t) => t.bytes)]);
}

function npy(values, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}), }`;
  header += `${' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64)}\n`;
  const preamble = Buffer.from([0x93, ...Buffer.from('NUMPY'), 1, 0, 0, 0]);
  preamble.writeUInt16LE(header.length, 8);
  return Buffer.concat([preamble, Buffer.from(header, 'latin1'), f32(values)]);
}

const f32 = (values) => Buffer.from(new Float32Array(values).buffer);

/** Exact F16 values from their bits: random sign, exponents 2^-6..2^0, random mantissa. */
function f16(count, seed) {
  const uniform = random(seed);
  const bits = Uint16Array.from({ length: count }, () => ((uniform() < 0.5 ? 1 : 0) << 15) | ((9 + Math.floor(uniform() * 7)) << 10) | Math.floor(uniform() * 1024));
  return Buffer.from(bits.buffer);
}

/** BF16 values: the high half of each f32's bits (a bf16 by construction, no rounding to argue about). */
function bf16(values) {
  const bits = new Uint32Array(new Float32Array(values).buffer);
  return Buffer.from(Uint16Array.from(bits, (b) => b >>> 16).buffer);
}

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
  const hugeHeader = safetensorsHeader([{ name: 'huge', dtype: 'F16', shape: [512, 1048576], length: hugeLength }]);
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

// ---- the CLI: the same rows, natively -----------------------------------------------------------------

function cli(args) {
  return JSON.parse(execFileSync(CLI, [...args, '--json'], { cwd: ROOT, encoding: 'utf8' }));
}

const METRICS = ['bytes_quantized', 'compression', 'bits_per_weight', 'mse', 'sqnr_db', 'max_abs_err', 'cosine', 'clipped_share'];
const rawValue = (row, metric) => String(metric === 'compression' ? row.bytes_fp32 / row.bytes_quantized : row[metric]);

/** The page's table as { configs: [..columns], cells: { config: { metric: data-value } } }. */
async function readTable() {
  return page.evaluate(() => {
    const table = document.getElementById('comparison');
    const cells = {};
    for (const td of table.querySelectorAll('td[data-config][data-metric]')) {
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

function newestSource() {
  const sources = ['index.html', 'vite.config.js', ...readdirSync(path.join(ROOT, 'www')).map((f) => `www/${f}`)];
  if (existsSync(path.join(ROOT, 'www/pkg'))) sources.push(...readdirSync(path.join(ROOT, 'www/pkg')).map((f) => `www/pkg/${f}`));
  return Math.max(...sources.map((f) => statSync(path.join(ROOT, f)).mtimeMs));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function startPreview(port) {
  const child = spawn('npx', ['vite', 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
    cwd: ROOT,
    detached: true, // its own process group, so `after` ends npx, sh and vite together
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`vite preview did not start in ${WAIT} ms:\n${output}`)), WAIT);
    const listen = (chunk) => {
      output += chunk;
      if (output.includes(`127.0.0.1:${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', listen);
    child.stderr.on('data', listen);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vite preview exited with ${code}:\n${output}`));
    });
  });
  return { child, ready };
}

before(async () => {
  assert.ok(existsSync(path.join(ROOT, 'www/pkg/quant_playground.js')), 'www/pkg is missing: run bash scripts/build-wasm.sh first');
  const built = path.join(ROOT, 'dist/index.html');
  if (!existsSync(built) || statSync(built).mtimeMs < newestSource()) {
    execFileSync('npx', ['vite', 'build'], { cwd: ROOT, stdio: 'inherit' });
  }
  const env = { ...process.env, PATH: `${path.join(homedir(), '.cargo/bin')}:${process.env.PATH}` };
  execFileSync('cargo', ['build', '--quiet', '--bin', 'quant-playground'], { cwd: ROOT, env, stdio: 'inherit' });
  mkdirSync(ARTIFACTS, { recursive: true });
  fixtures = { dir: mkdtempSync(path.join(tmpdir(), 'quant-playground-e2e-')) };
  Object.assign(fixtures, writeFixtures(fixtures.dir));

  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  const preview = startPreview(port);
  server = preview.child;
  await preview.ready;

  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('request', (request) => requests.push(request.url()));
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${origin}/`);
}, { timeout: 15 * 60_000 }); // a first cargo build of the CLI can take minutes

after(async () => {
  await browser?.close();
  if (server && server.exitCode === null && server.signalCode === null) {
    try {
      process.kill(-server.pid, 'SIGTERM'); // the group of npx, sh and vite started above
    } catch (error) {
      if (error.code !== 'ESRCH') throw error;
    }
  }
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
  assert.equal(await page.locator('td.best[data-metric="sqnr_db"]').getAttribute('data-config'), 'fp16');
  assert.equal(await page.locator('td.best[data-metric="bytes_quantized"]').getAttribute('data-config'), 'int4 sym channel:0');

  assert.deepEqual(await page.locator('#tensors tbody tr[data-tensor]').evaluateAll((rows) => rows.map((r) => r.dataset.tensor)), [
    'fc1.weight',
    'fc1.bias',
    'fc2.weight',
    'head.weight',
  ]);
  assert.ok(await page.locator('#tensors tr[data-tensor="fc2.weight"] input').isChecked());
  assert.equal(await page.locator('#kernel').getAttribute('data-kernel'), 'simd128');
  assert.equal(await page.locator('#errors').isHidden(), true);
  await page.screenshot({ path: path.join(ARTIFACTS, 'main.png') });
});

test('(b) a dropped-in file shows exactly the numbers of the native CLI', { timeout: 3 * WAIT }, async () => {
  await page.setInputFiles('#file-input', [fixtures.safetensors, fixtures.npy]);
  await page.locator('#tensors tbody[data-file="weights.npy"]').waitFor();

  const steps = page.locator('#tensors tr[data-file="fixture.safetensors"][data-tensor="steps"]');
  assert.match(await steps.textContent(), /not quantizable/);
  assert.equal(await steps.locator('input').isDisabled(), true);

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
    assert.deepEqual(shown.cells, expected, `${c.file} ${c.tensor}: every cell equals the CLI's --json`);
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
  assert.equal(await cell('sqnr_db'), String(int8.sqnr_db));
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
  assert.deepEqual(files, ['example-seed-42.safetensors', 'fixture.safetensors', 'weights.npy']);
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
  await page.locator('#tensors tr[data-file="example-seed-42.safetensors"][data-tensor="fc2.weight"] input').check();
  await waitForTable('example-seed-42.safetensors', 'fc2.weight', ['int8 sym channel:0']);
  await page.locator('#tensors tr[data-tensor="fc2.weight"] input').focus();
  await page.keyboard.press('ArrowDown');
  await waitForTable('example-seed-42.safetensors', 'head.weight', ['int8 sym channel:0']);
});

test('closing a file removes it and its errors, and nothing else', { timeout: WAIT }, async () => {
  const before = await readTable();
  await page.getByRole('button', { name: 'close huge.safetensors' }).click();
  await page.locator('#tensors tbody[data-file="huge.safetensors"]').waitFor({ state: 'detached' });
  const files = await page.locator('#tensors tbody').evaluateAll((bodies) => bodies.map((b) => b.dataset.file));
  assert.deepEqual(files, ['example-seed-42.safetensors', 'fixture.safetensors', 'weights.npy']);
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
