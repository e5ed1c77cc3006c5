// End-to-end for the calibration panel and the speed panel.
//
// Calibration: every number of the page's method table equals the CLI's `calibrate --json` for the same file,
// tensor, bits and scheme (range and scale are f32 in the report: compared as f32, exactly; sqnr_db to 1e-12
// relative, since wasm's and glibc's log10 may differ in the last bit; the rest exactly), and the searched
// curves are drawn with their chosen thresholds.
//
// Speed: the panel runs y = W·x on the example's fc2.weight and shows finite numbers; the INT8 and INT4 output
// SQNRs are within 1 dB of an independent f64 implementation of the same computation written here (the
// numerics contract: per-channel int8 weights × per-row u8 activations; int4 groups of 32 × per-row int8),
// on the same W and x (x from the core's seeded generator). The page stays usable while a run is in flight,
// Cancel stops it, and no request leaves 127.0.0.1.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ARTIFACTS, ROOT, WAIT, cli, f32, gaussians, safetensors, startSession } from './lib.mjs';

let session;
let page;
let dir;
let wasm; // the page's own module, loaded in Node for the example file and the seeded x
const files = {};
const EXAMPLE = 'example-seed-42.safetensors';

before(async () => {
  wasm = await import(pathToFileURL(path.join(ROOT, 'www/pkg/quant_playground.js')).href);
  await wasm.default({ module_or_path: readFileSync(path.join(ROOT, 'www/pkg/quant_playground_bg.wasm')) });
  dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-panels-'));
  files.example = path.join(dir, EXAMPLE);
  writeFileSync(files.example, wasm.example_file(42));
  // A weight with a few 25× outlier rows (clipping methods differ from min-max), and a large one for Cancel.
  const outliers = gaussians(96 * 160, 21, 0.03);
  for (const row of [3, 40, 77]) for (let i = 0; i < 160; i++) outliers[row * 160 + i] *= 25;
  files.model = path.join(dir, 'panels.safetensors');
  writeFileSync(files.model, safetensors([
    { name: 'proj.weight', dtype: 'F32', shape: [96, 160], bytes: f32(outliers) },
    { name: 'big.weight', dtype: 'F32', shape: [2048, 2048], bytes: f32(gaussians(2048 * 2048, 22, 0.02)) },
  ]));
  session = await startSession();
  ({ page } = session);
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- helpers ------------------------------------------------------------------------------------------

async function chooseTensor(file, tensor) {
  await page.locator(`#tensors tr[data-file="${file}"][data-tensor="${tensor}"] input[type="radio"]`).check();
}

/** The calibration table shows `tensor` at `bits` and `scheme`, with nothing in flight. */
async function waitForCalibration(tensor, bits, scheme) {
  await page.waitForFunction(({ tensor, bits, scheme }) => {
    const table = document.getElementById('calibration-table');
    return table.dataset.state === 'ready' && table.dataset.tensor === tensor && table.dataset.bits === String(bits)
      && table.dataset.scheme === scheme && !document.querySelector('.calibration').hasAttribute('aria-busy');
  }, { tensor, bits, scheme });
}

/** The table as [{ method, range, scale, ... }] from the cells' raw data-values. */
async function readCalibration() {
  return page.locator('#calibration-table tbody tr').evaluateAll((rows) => rows.map((tr) => {
    const row = { method: tr.dataset.method };
    for (const td of tr.querySelectorAll('td[data-metric]')) row[td.dataset.metric] = JSON.parse(td.dataset.value);
    return row;
  }));
}

/** Page and CLI agree: f32 fields as f32, sqnr_db to 1e-12 relative, everything else exactly. */
function assertSameMethods(shown, fromCli, what) {
  assert.deepEqual(shown.map((r) => r.method), fromCli.methods.map((r) => r.method), what);
  fromCli.methods.forEach((want, i) => {
    const got = shown[i];
    const where = `${what} ${want.method}`;
    assert.deepEqual(got.range.map(Math.fround), want.range.map(Math.fround), `${where} range`);
    assert.equal(Math.fround(got.scale), Math.fround(want.scale), `${where} scale`);
    for (const key of ['zero_point', 'mse', 'clipped_share']) assert.equal(got[key], want[key], `${where} ${key}`);
    if (typeof want.sqnr_db !== 'number') assert.equal(got.sqnr_db, want.sqnr_db, `${where} sqnr_db`);
    else assert.ok(Math.abs(got.sqnr_db - want.sqnr_db) <= 1e-12 * Math.abs(want.sqnr_db), `${where}: SQNR ${got.sqnr_db} vs the CLI's ${want.sqnr_db}`);
  });
}

async function checkCalibration(file, tensor, bits, scheme) {
  await waitForCalibration(tensor, bits, scheme);
  const fromCli = cli(['calibrate', file, '--tensor', tensor, '--method', 'all', '--bits', String(bits), '--scheme', scheme === 'symmetric' ? 'sym' : 'asym']);
  const shown = await readCalibration();
  assertSameMethods(shown, fromCli, `${tensor} int${bits} ${scheme}`);
  // ★ on the best SQNR as shown (two decimals), and only there.
  const best = Math.max(...fromCli.methods.map((m) => m.sqnr_db)).toFixed(2);
  const starred = await page.locator('#calibration-table td[data-best="true"]').evaluateAll((tds) => tds.map((td) => td.dataset.method));
  assert.deepEqual(starred, fromCli.methods.filter((m) => m.sqnr_db.toFixed(2) === best).map((m) => m.method), `${tensor}: the starred method`);
  assert.ok(starred.length >= 1, `${tensor}: a method is starred`);
  return fromCli;
}

// ---- calibration -----------------------------------------------------------------------------------------

test('calibration panel: the method table equals the CLI, the KL and MSE curves mark their chosen thresholds', { timeout: 3 * WAIT }, async () => {
  await page.locator(`#tensors tbody[data-file="${EXAMPLE}"]`).waitFor();
  // The form opens at 8 bits, symmetric.
  const cal = await checkCalibration(files.example, 'fc2.weight', 8, 'symmetric');
  assert.equal(await page.locator('#calibration-of').textContent(), '— fc2.weight');

  // The curves: both entropy variants on the KL picture, the MSE search on the other, each with its choice.
  const kl = JSON.parse(await page.locator('#kl-chart').getAttribute('data-curves'));
  const mse = JSON.parse(await page.locator('#mse-chart').getAttribute('data-curves'));
  assert.deepEqual(kl.map((c) => c.label), ['entropy (KL, ORT)', 'entropy (KL, TensorRT)']);
  assert.deepEqual(mse.map((c) => c.label), ['MSE']);
  for (const c of [...kl, ...mse]) assert.ok(c.points > 100 && Number.isFinite(c.chosen), JSON.stringify(c));
  // The MSE search's choice is the hi end of the mse range (its candidates are ±t clipped to the data).
  const mseRow = cal.methods.find((m) => m.method === 'mse');
  assert.equal(Math.fround(mse[0].chosen), Math.fround(mseRow.range[1]));
  assert.ok(await page.locator('#kl-chart canvas').count());
  assert.match(await page.locator('#kl-legend').textContent(), /entropy \(KL, ORT\): [\d,]+ thresholds from .* chose /);

  // 4 bits, asymmetric: the panel follows the form.
  await page.selectOption('#bits', '4');
  await page.selectOption('#scheme', 'asymmetric');
  await checkCalibration(files.example, 'fc2.weight', 4, 'asymmetric');

  // Another file's tensor, with outlier rows.
  await page.setInputFiles('#file-input', files.model);
  await chooseTensor('panels.safetensors', 'proj.weight');
  await checkCalibration(files.model, 'proj.weight', 4, 'asymmetric');
  await page.locator('.calibration').screenshot({ path: path.join(ARTIFACTS, 'calibration-panel.png') });

  // The method the form's calibration select uses is tagged in the table, and follows the select.
  assert.deepEqual(await page.locator('#calibration-table tr.chosen').evaluateAll((rows) => rows.map((r) => r.dataset.method)), ['minmax']);
  await page.selectOption('#calibration', 'mse');
  await page.waitForFunction(() => document.querySelector('#calibration-table tr.chosen')?.dataset.method === 'mse');
  await page.selectOption('#calibration', 'minmax');

  await page.selectOption('#bits', '8');
  await page.selectOption('#scheme', 'symmetric');
  await waitForCalibration('proj.weight', 8, 'symmetric');
});

// ---- speed -----------------------------------------------------------------------------------------------

/** round half to even, as the contract's `round`. */
function roundHalfEven(v) {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

/** Symmetric narrow-range codes of `values` at `bits`, with the f32 scale amax / qmax. */
function symmetric(values, bits) {
  const qmax = 2 ** (bits - 1) - 1;
  let amax = 0;
  for (const v of values) amax = Math.max(amax, Math.abs(v));
  let scale = Math.fround(amax / qmax);
  if (!(scale > 0 && Number.isFinite(scale))) scale = 1;
  return { scale, q: values.map((v) => clamp(roundHalfEven(Math.fround(v / scale)), -qmax, qmax)) };
}

/** Asymmetric u8 codes of `values` (the range widened to include 0). */
function asymmetricU8(values) {
  let [lo, hi] = [0, 0];
  for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  let scale = Math.fround((hi - lo) / 255);
  if (!(scale > 0 && Number.isFinite(scale))) scale = 1;
  const zp = clamp(roundHalfEven(-Math.fround(lo / scale)), 0, 255);
  return { scale, zp, q: values.map((v) => clamp(roundHalfEven(Math.fround(v / scale)) + zp, 0, 255)) };
}

/** W dequantized from MXFP4 (OCP MX v1.0: per 32 along a row, X = 2^(floor(log2 amax) − 2) clamped to
 * 2^±127, elements E2M1 of x / X, nearest with ties to the even code, saturating at ±6). */
const E2M1 = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
function mxfp4Values(row) {
  const out = [];
  for (let s = 0; s < row.length; s += 32) {
    const block = row.slice(s, s + 32);
    const amax = Math.max(0, ...block.map(Math.abs));
    const X = 2 ** clamp((amax > 0 ? Math.floor(Math.log2(amax)) : -126) - 2, -127, 127);
    for (const v of block) {
      const a = Math.min(Math.abs(Math.fround(v / X)), 6);
      let best = 0;
      for (let c = 1; c < 8; c++) {
        const d = Math.abs(a - E2M1[c]) - Math.abs(a - E2M1[best]);
        if (d < 0 || (d === 0 && c % 2 === 0)) best = c;
      }
      out.push(Math.sign(v) * E2M1[best] * X);
    }
  }
  return out;
}

/** W dequantized from NF4 (bitsandbytes: absmax per 64 of the flattened tensor, the level whose
 * dQuantizeNF4 interval holds x · (1 / absmax), level × absmax). */
const NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0];
function nf4Values(flat) {
  const out = [];
  for (let s = 0; s < flat.length; s += 64) {
    const block = flat.slice(s, s + 64);
    const absmax = Math.max(0, ...block.map(Math.abs));
    const inv = Math.fround(1 / absmax);
    for (const v of block) {
      const t = Math.fround(v * inv);
      const code = NF4.slice(0, 15).reduce((c, level, i) => (t > Math.fround((level + NF4[i + 1]) / 2) ? i + 1 : c), 0);
      out.push(Math.fround(NF4[code] * absmax));
    }
  }
  return out;
}

/** SQNR (dB) of y = Wq·x against y = W·x, both in f64, Wq [n, k] row-major. */
function dequantizedSqnr(w, wq, n, k, x, m) {
  let [yy, ee] = [0, 0];
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let [y, yq] = [0, 0];
      for (let kk = 0; kk < k; kk++) {
        y += w[j * k + kk] * x[i * k + kk];
        yq += wq[j * k + kk] * x[i * k + kk];
      }
      yy += y * y;
      ee += (y - yq) ** 2;
    }
  return 10 * Math.log10(yy / ee);
}

/** y = W·x in f64, and the INT8 (dynamic) and INT4 g32 outputs of the same computation; their SQNRs in dB. */
function referenceSqnr(w, n, k, x, m) {
  const rows = (a, count) => Array.from({ length: count }, (_, r) => Array.from(a.subarray(r * k, (r + 1) * k)));
  const W = rows(w, n);
  const X = rows(x, m);
  const w8 = W.map((row) => symmetric(row, 8));
  const w4 = W.map((row) => Array.from({ length: Math.ceil(k / 32) }, (_, g) => symmetric(row.slice(g * 32, (g + 1) * 32), 4)));
  const a8 = X.map(asymmetricU8);
  const a4 = X.map((row) => symmetric(row, 8));
  const sums = { yy: 0, e8: 0, e4: 0 };
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let y = 0;
      let acc8 = 0;
      let y4 = 0;
      for (let kk = 0; kk < k; kk++) {
        y += W[j][kk] * X[i][kk];
        acc8 += (a8[i].q[kk] - a8[i].zp) * w8[j].q[kk];
      }
      w4[j].forEach((group, g) => {
        let acc = 0;
        group.q.forEach((qw, t) => { acc += a4[i].q[g * 32 + t] * qw; });
        y4 += group.scale * acc;
      });
      const y8 = a8[i].scale * w8[j].scale * acc8;
      y4 *= a4[i].scale;
      sums.yy += y * y;
      sums.e8 += (y - y8) ** 2;
      sums.e4 += (y - y4) ** 2;
    }
  }
  return { int8: 10 * Math.log10(sums.yy / sums.e8), int4: 10 * Math.log10(sums.yy / sums.e4) };
}

async function runSpeed(m, seed) {
  await page.selectOption('#speed-batch', String(m));
  await page.fill('#speed-seed', String(seed));
  await page.locator('#speed-run').click();
}

async function waitForSpeed(tensor, m, seed) {
  await page.waitForFunction(({ tensor, m, seed }) => {
    const table = document.getElementById('speed-table');
    return table.dataset.state === 'ready' && table.dataset.tensor === tensor && table.dataset.m === String(m)
      && table.dataset.seed === String(seed) && !table.hasAttribute('aria-busy') && document.getElementById('speed-cancel').hidden;
  }, { tensor, m, seed });
}

async function readSpeed() {
  return page.locator('#speed-table tbody tr').evaluateAll((rows) => Object.fromEntries(rows.map((tr) => {
    const cells = {};
    for (const td of tr.querySelectorAll('td[data-value]')) cells[td.dataset.metric] = Number(td.dataset.value);
    return [tr.dataset.kernel, cells];
  })));
}

test('speed panel: FP32, INT8, INT4, MXFP4 and NF4 on fc2.weight — finite numbers, SQNR within 1 dB of an f64 reference', { timeout: 3 * WAIT }, async () => {
  await chooseTensor(EXAMPLE, 'fc2.weight');
  // Nothing runs by itself; the button names the tensor.
  assert.equal(await page.locator('#speed-table').getAttribute('data-state'), 'empty');
  assert.match(await page.locator('#speed-run').textContent(), /fc2\.weight/);
  assert.match(await page.locator('#speed-seed').inputValue(), /^\d+$/); // a random seed is shown from the start

  const [m, seed] = [8, 42];
  await runSpeed(m, seed);
  await waitForSpeed('fc2.weight', m, seed);
  const shown = await readSpeed();
  assert.deepEqual(Object.keys(shown), ['fp32', 'int8', 'int4', 'mxfp4', 'nf4']);
  for (const [kernel, cells] of Object.entries(shown)) {
    const want = kernel === 'fp32' ? ['median_ms', 'gops', 'speedup'] : ['sqnr_db', 'cosine', 'max_abs_err', 'median_ms', 'gops', 'speedup'];
    assert.deepEqual(Object.keys(cells).sort(), want.sort(), kernel);
    for (const [metric, v] of Object.entries(cells)) assert.ok(Number.isFinite(v), `${kernel} ${metric} = ${v}`);
    assert.ok(cells.median_ms > 0 && cells.gops > 0 && cells.speedup > 0, `${kernel}: ${JSON.stringify(cells)}`);
  }
  assert.equal(shown.fp32.speedup, 1);
  const [n, k] = [128, 256];
  for (const kernel of ['fp32', 'int8', 'int4', 'mxfp4', 'nf4']) {
    const gops = (2 * m * n * k) / (shown[kernel].median_ms * 1e6);
    assert.ok(Math.abs(shown[kernel].gops - gops) <= 1e-9 * gops, `${kernel} GOPS`);
  }

  // The same computation, independently, in f64 on the same W and x.
  const bytes = wasm.example_file(42);
  const index = JSON.parse(wasm.parse_index(EXAMPLE, bytes, bytes.length));
  const info = index.tensors.find((t) => t.name === 'fc2.weight');
  const w = wasm.tensor_values(JSON.stringify(info), bytes.subarray(info.offset, info.offset + info.byte_len));
  const x = wasm.gaussian_activations(m, k, seed);
  const reference = referenceSqnr(w, n, k, x, m);
  console.log(`# fc2.weight m=${m} seed=${seed}: page INT8 ${shown.int8.sqnr_db.toFixed(3)} dB (f64 reference ${reference.int8.toFixed(3)}), INT4 ${shown.int4.sqnr_db.toFixed(3)} dB (${reference.int4.toFixed(3)}); `
    + `ms per call FP32 ${shown.fp32.median_ms.toFixed(4)}, INT8 ${shown.int8.median_ms.toFixed(4)}, INT4 ${shown.int4.median_ms.toFixed(4)}`);
  assert.ok(Math.abs(shown.int8.sqnr_db - reference.int8) < 1, `INT8 SQNR ${shown.int8.sqnr_db} vs ${reference.int8}`);
  assert.ok(Math.abs(shown.int4.sqnr_db - reference.int4) < 1, `INT4 SQNR ${shown.int4.sqnr_db} vs ${reference.int4}`);
  assert.ok(shown.int8.sqnr_db > 30 && shown.int4.sqnr_db > 10, JSON.stringify(shown));
  assert.ok(shown.int8.cosine > 0.999 && shown.int8.max_abs_err < shown.int4.max_abs_err);
  // MXFP4 and NF4: y from W dequantized by this file's own reading of the specs, in f64 (x stays f32 in
  // these kernels, so the error is the weights' alone).
  const wArr = Array.from(w);
  const mx = Array.from({ length: n }, (_, j) => mxfp4Values(wArr.slice(j * k, (j + 1) * k))).flat();
  for (const [kernel, wq] of [['mxfp4', mx], ['nf4', nf4Values(wArr)]]) {
    const want = dequantizedSqnr(w, wq, n, k, x, m);
    console.log(`# fc2.weight ${kernel}: page ${shown[kernel].sqnr_db.toFixed(3)} dB, f64 reference ${want.toFixed(3)} dB`);
    assert.ok(Math.abs(shown[kernel].sqnr_db - want) < 1, `${kernel} SQNR ${shown[kernel].sqnr_db} vs ${want}`);
    assert.ok(shown[kernel].sqnr_db > 10, `${kernel}: ${shown[kernel].sqnr_db}`);
  }

  // Which build ran: the module's own answer, as in the footer.
  assert.equal(await page.locator('#speed-table').getAttribute('data-build'), await page.locator('#kernel').textContent());
  assert.match(await page.locator('#speed-table caption').textContent(), /seed 42; kernels: simd128|seed 42; kernels: relaxed-simd/);
  await page.locator('.speed').screenshot({ path: path.join(ARTIFACTS, 'speed-panel.png') });

  // A 1-D tensor cannot be a matmul weight: the button says why instead of running.
  await chooseTensor(EXAMPLE, 'fc1.bias');
  assert.equal(await page.locator('#speed-run').isDisabled(), true);
  assert.match(await page.locator('#speed-status').textContent(), /one axis/);
  // A seed that is not a whole number is refused.
  await chooseTensor(EXAMPLE, 'fc2.weight');
  await page.fill('#speed-seed', '1.5');
  assert.equal(await page.locator('#speed-run').isDisabled(), true);
  assert.equal(await page.locator('#speed-seed').getAttribute('aria-invalid'), 'true');
  await page.fill('#speed-seed', String(seed));
  assert.equal(await page.locator('#speed-run').isDisabled(), false);
});

test('speed panel: the page stays usable during a run on a 2048 × 2048 weight, and Cancel stops it', { timeout: 3 * WAIT }, async () => {
  await chooseTensor('panels.safetensors', 'big.weight');
  await runSpeed(64, 7);
  await page.locator('#speed-cancel').waitFor({ state: 'visible' });
  // While the worker times the kernels, the main thread still answers: the tensor filter works.
  await page.locator('#tensor-filter').fill('proj');
  assert.deepEqual(await page.locator('#tensors tbody[data-file="panels.safetensors"] tr[data-tensor]').evaluateAll((rows) => rows.map((r) => r.dataset.tensor)), ['proj.weight']);
  assert.equal(await page.locator('#speed-cancel').isVisible(), true, 'the run was still going while the filter answered');
  await page.locator('#tensor-filter').fill('');
  await page.locator('#speed-cancel').click();
  await page.waitForFunction(() => document.getElementById('speed-cancel').hidden);
  assert.match(await page.locator('#speed-status').textContent(), /^Cancelled/);
  // The table still shows the last complete run.
  assert.equal(await page.locator('#speed-table').getAttribute('data-tensor'), 'fc2.weight');
  await page.screenshot({ path: path.join(ARTIFACTS, 'panels-full.png'), fullPage: true });
});

test('nothing left 127.0.0.1 and nothing threw', { timeout: WAIT }, async () => {
  const elsewhere = session.requests.filter((url) => !url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== session.origin);
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(session.pageErrors, []);
});
