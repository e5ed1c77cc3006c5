// End-to-end for the formats with their own scales as comparison columns: FP8 E4M3 and MXFP4 come from the
// URL (`add=LABEL`), NVFP4, NF4 and Q4_K from the format chooser (built from the core's served list), and
// every cell of those columns equals the CLI's `compare --format LABEL --json` row for the same tensor.
// A whole-model run under an added format equals the CLI's `quantize --type LABEL --json`. Then a tensor
// whose rows are not whole blocks of 256: Q4_K is left out with the core's reason, the
// other columns still show; and the Pareto sweep holds every served format the shape allows.
//
//   bash scripts/build-wasm.sh && npx vite build && node --test tests/e2e/number-formats.test.mjs
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CLI, WAIT, cli, f32, gaussians, safetensors, startSession } from './lib.mjs';

const METRICS = ['bytes_quantized', 'compression', 'bits_per_weight', 'mse', 'sqnr_db', 'max_abs_err', 'cosine', 'clipped_share'];
const rawValue = (row, metric) => String(metric === 'compression' ? row.bytes_fp32 / row.bytes_quantized : row[metric]);
const FROM_URL = ['fp8-e4m3', 'mxfp4'];
// The lattice types (ggml's IQ grids) and IQ4_NL are chooser columns too: the page's cells equal the CLI's.
const FROM_CHOOSER = ['nvfp4', 'nf4', 'q4_k', 'iq4_nl', 'iq3_s', 'iq3_xxs', 'iq2_s', 'iq1_m'];

let session;
let page;
let dir;
let file;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'quant-playground-number-formats-'));
  file = path.join(dir, 'blocks.safetensors');
  // Rows of 512 (whole Q4_K blocks) with an outlier row; rows of 96 (whole blocks of 32, not of 256).
  const wide = gaussians(16 * 512, 21, 0.05);
  for (let i = 0; i < 512; i++) wide[3 * 512 + i] *= 12;
  writeFileSync(file, safetensors([
    { name: 'wide.weight', dtype: 'F32', shape: [16, 512], bytes: f32(wide) },
    { name: 'narrow.weight', dtype: 'F32', shape: [24, 96], bytes: f32(gaussians(24 * 96, 22, 0.1)) },
  ]));
  session = await startSession({ query: `?${FROM_URL.map((l) => `add=${l}`).join('&')}` });
  ({ page } = session);
  await page.waitForFunction(() => document.getElementById('comparison').dataset.file === 'example-seed-42.safetensors'
    && !document.getElementById('comparison').hasAttribute('aria-busy'));
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function showTensor(tensor, configs) {
  await page.locator(`#tensors tr[data-file="blocks.safetensors"][data-tensor="${tensor}"] input[type="radio"]`).check();
  await page.waitForFunction(({ tensor, configs }) => {
    const table = document.getElementById('comparison');
    return table.dataset.file === 'blocks.safetensors' && table.dataset.tensor === tensor && !table.hasAttribute('aria-busy')
      && configs.every((c) => table.querySelector(`td[data-config="${c}"][data-metric="sqnr_db"]`));
  }, { tensor, configs }, { timeout: WAIT });
}

/** { config: { metric: data-value } } of the table's columns. */
const cells = () => page.locator('#comparison td[data-config]').evaluateAll((tds) => {
  const out = {};
  for (const td of tds) (out[td.dataset.config] ??= {})[td.dataset.metric] = td.dataset.value;
  return out;
});

/** Equal cell for cell; sqnr_db (10·log10 of a ratio: wasm's libm vs glibc) to 1e-12 relative. */
function assertSameCells(shown, row) {
  for (const metric of METRICS) {
    const want = rawValue(row, metric);
    const got = shown[metric];
    if (metric === 'sqnr_db' && Number.isFinite(Number(want))) {
      assert.ok(Math.abs(Number(got) - Number(want)) <= 1e-12 * Math.abs(Number(want)), `${row.config} SQNR ${got} vs the CLI's ${want}`);
    } else {
      assert.equal(got, want, `${row.config} ${metric}`);
    }
  }
}

test('FP8, MXFP4, NVFP4, NF4 and Q4_K columns equal the CLI, from the URL and the chooser', { timeout: 4 * WAIT }, async () => {
  // The chooser lists the core's formats by family: every served non-default label, once.
  const served = cli(['formats']);
  const offered = await page.locator('#format-choice option').evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(offered, served.filter((f) => f.family === 'block' || f.family === 'ggml').map((f) => f.label));
  const groups = await page.locator('#format-choice optgroup').count();
  assert.equal(groups, 2);

  await page.setInputFiles('#file-input', file);
  await page.locator('#tensors tbody[data-file="blocks.safetensors"]').waitFor();
  await showTensor('wide.weight', FROM_URL);
  for (const label of FROM_CHOOSER) {
    await page.locator('#format-choice').selectOption(label);
    await page.locator('#add-format').click();
    await showTensor('wide.weight', [...FROM_URL, label]);
  }
  const labels = [...FROM_URL, ...FROM_CHOOSER];
  const heads = await page.locator('#comparison thead th[data-config]').evaluateAll((ths) => ths.map((th) => th.dataset.config));
  assert.deepEqual(heads.slice(-labels.length), labels);
  const params = new URLSearchParams(await page.evaluate(() => location.search));
  assert.deepEqual(params.getAll('add'), labels);

  const rows = cli(['compare', file, '--tensor', 'wide.weight', '--scheme', 'sym', '--granularity', 'channel', ...labels.flatMap((l) => ['--format', l])]).tensors;
  const shown = await cells();
  for (const label of labels) {
    const row = rows.find((r) => r.config === label);
    assert.ok(row, `the CLI has a ${label} row`);
    assertSameCells(shown[label], row);
  }
  // True bits per weight: NVFP4 is 4 + 8/16 + 32 per tensor, Q4_K 144 bytes per 256 values.
  assert.equal(Number(shown.q4_k.bits_per_weight), 4.5);
  assert.equal(Number(shown.mxfp4.bits_per_weight), 4.25);
  // IQ4_NL: 18 bytes per 32; IQ3_S 110 bytes, IQ2_S 82, IQ1_M 56 per 256 (ggml-common.h's block sizes).
  assert.equal(Number(shown.iq4_nl.bits_per_weight), 4.5);
  assert.equal(Number(shown.iq3_s.bits_per_weight), 3.4375);
  assert.equal(Number(shown.iq2_s.bits_per_weight), 2.5625);
  assert.equal(Number(shown.iq1_m.bits_per_weight), 1.75);
});

test('whole model under an added format: the JSON download equals the CLI\'s quantize --type', { timeout: 4 * WAIT }, async () => {
  const configs = await page.locator('#model-config option').evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(configs.slice(-(FROM_URL.length + FROM_CHOOSER.length)), [...FROM_URL, ...FROM_CHOOSER]);
  for (const label of ['nvfp4', 'mxfp4']) {
    await page.locator('#model-config').selectOption(label);
    assert.match(await page.locator('#model-run').textContent(), new RegExp(`all 2 float tensors of blocks\\.safetensors as ${label}$`));
    await page.locator('#model-run').click();
    await page.waitForFunction((label) => {
      const result = document.getElementById('model-result');
      return !result.hidden && document.getElementById('model-cancel').hidden && result.dataset.state === 'done'
        && document.getElementById('model-config').value === label && !document.getElementById('model-run').disabled;
    }, label, { timeout: 2 * WAIT });
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#model-json').click()]);
    const fromPage = JSON.parse(readFileSync(await download.path(), 'utf8'));
    const fromCli = cli(['quantize', file, '--type', label]);
    assert.equal(fromPage.tensors.length, 2);
    const strip = (doc) => ({ ...doc, file: undefined, tensors: doc.tensors.map((r) => ({ ...r, sqnr_db: undefined })) });
    assert.deepEqual(strip(fromPage), strip(fromCli));
    fromPage.tensors.forEach((r, i) => {
      const want = fromCli.tensors[i].sqnr_db;
      assert.ok(Math.abs(r.sqnr_db - want) <= 1e-12 * Math.abs(want), `${label} ${r.name}: SQNR ${r.sqnr_db} vs the CLI's ${want}`);
    });
  }
});

test('a shape that is no whole Q4_K blocks: the core says why, the other columns stay; the sweep holds the formats it allows', { timeout: 4 * WAIT }, async () => {
  await showTensor('narrow.weight', ['fp8-e4m3', 'mxfp4', 'nvfp4', 'nf4']);
  const heads = await page.locator('#comparison thead th[data-config]').evaluateAll((ths) => ths.map((th) => th.dataset.config));
  assert.ok(!heads.includes('q4_k'), heads.join(', '));
  const notes = await page.locator('#notes li').allTextContents();
  assert.ok(notes.some((n) => n.includes('q4_k is not shown') && n.includes('rows of 96 values are not whole blocks of 256')), notes.join(' | '));
  const rows = cli(['compare', file, '--tensor', 'narrow.weight', '--scheme', 'sym', '--granularity', 'channel', '--format', 'nf4']).tensors;
  assertSameCells((await cells()).nf4, rows.find((r) => r.config === 'nf4'));

  // The sweep: 70 integer specs and each served block / ggml format whose rows the CLI can make for [24, 96].
  await page.waitForFunction(() => {
    const pictures = document.querySelector('.pictures');
    return pictures.dataset.tensor === 'narrow.weight' && document.getElementById('pareto-progress').hidden
      && document.getElementById('pareto-chart').dataset.formats !== undefined;
  }, null, { timeout: 2 * WAIT });
  const fitting = [];
  for (const f of cli(['formats']).filter((f) => f.family === 'block' || f.family === 'ggml')) {
    try {
      execFileSync(CLI, ['compare', file, '--tensor', 'narrow.weight', '--format', f.label, '--json'], { stdio: 'pipe' });
      fitting.push(f.label);
    } catch (error) {
      assert.match(String(error.stderr), /rows of 96 values are not whole blocks of 256/, f.label); // the only reason to refuse
    }
  }
  assert.ok(fitting.includes('q8_0') && !fitting.includes('q4_k'), fitting.join(', '));
  const swept = (await page.locator('#pareto-chart').getAttribute('data-formats')).split('|');
  assert.deepEqual(swept, fitting);
});
