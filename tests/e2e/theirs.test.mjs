// End-to-end for "Theirs against ours": the page's per-tensor figures and summary equal the CLI's
// `diff FLOAT QUANTIZED --json` on the same pair, for a copy gguf-py wrote under other names (matched by
// fingerprint) and for onnxruntime's per-channel QDQ copy of an ONNX model; and no request leaves the page.
//
//   bash scripts/build-wasm.sh && npx vite build --logLevel warn && node --test tests/e2e/theirs.test.mjs
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, ROOT, cli, startSession } from './lib.mjs';

const DIGITS = path.join(ROOT, 'www/examples/digits-mlp.safetensors');
const GGUFPY = path.join(ROOT, 'tests/fixtures/diff/digits_ggufpy.gguf');
const FLOAT_ONNX = path.join(ROOT, 'tests/fixtures/quantized/float.onnx');
const QDQ = path.join(ROOT, 'tests/fixtures/quantized/qdq_per_channel.onnx');
const LLAMA_HF = path.join(ROOT, 'tests/fixtures/diff/llama_hf.safetensors');
const LLAMA_GGUF = path.join(ROOT, 'tests/fixtures/diff/llama_ggufpy.gguf');

let session;
let page;

before(async () => {
  session = await startSession();
  ({ page } = session);
  // The embedded files (the synthetic example and the digits model) are open once the list shows them.
  await page.locator('#tensors tbody[data-file="digits-mlp.safetensors"]').waitFor();
}, { timeout: 15 * 60_000 });

after(async () => {
  await session?.close();
});

const num = (v) => (v === 'inf' ? Infinity : v === '-inf' ? -Infinity : v);

/**
 * SQNR is 10·log10 of a ratio of sums: the sums are the same in wasm (the SIMD kernels match their scalar
 * twins), but wasm's log10 (Rust's libm) and the native one (glibc) may differ in the last bit of an f64.
 */
function sameDb(got, want, what) {
  if (got === want) return;
  assert.ok(Math.abs(got - want) <= 1e-13 * Math.abs(want), `${what}: ${got} where the CLI says ${want}`);
}

/** Chooses the float model by name, opens the copy with the view's own file button, waits for the table. */
async function compare(floatName, copyPath) {
  await page.selectOption('#theirs-float', { label: floatName });
  await page.evaluate(() => document.getElementById('theirs-table').removeAttribute('data-state'));
  await page.setInputFiles('#theirs-file', copyPath);
  await page.locator('#theirs-table[data-state="ready"]').waitFor();
  return page.$$eval('#theirs-table tbody tr', (rows) => rows.map((r) => ({ ...r.dataset })));
}

function assertRowsEqual(rows, want) {
  assert.deepEqual(rows.map((r) => r.name), want.tensors.map((t) => t.name), 'the same tensors, worst first');
  for (const [row, t] of rows.map((r, i) => [r, want.tensors[i]])) {
    assert.equal(row.quantized, t.quantized_name, t.name);
    assert.equal(row.matchedBy, t.matched_by, t.name);
    // The same core in wasm: the same f32 / f64 arithmetic, so the very same numbers (SQNR to its last bit or so).
    sameDb(Number(row.sqnr), num(t.theirs.sqnr_db), `${t.name} their SQNR`);
    assert.equal(Number(row.cosine), t.theirs.cosine, `${t.name} their cosine`);
    assert.equal(Number(row.maxAbs), num(t.theirs.max_abs_err), `${t.name} their max |err|`);
    assert.equal(Number(row.bpw), t.theirs.bits_per_weight, `${t.name} their bits per weight`);
    assert.equal(row.oursSqnr === '', !t.ours, `${t.name} has ours in both or neither`);
    if (t.ours) sameDb(Number(row.oursSqnr), num(t.ours.sqnr_db), `${t.name} our SQNR`);
    assert.equal(row.oursBpw === '' ? null : Number(row.oursBpw), t.ours ? t.ours.bits_per_weight : null, `${t.name} our bits per weight`);
  }
}

async function assertSummaryEqual(want) {
  const summary = await page.locator('#theirs-summary').evaluate((dl) => ({ ...dl.dataset }));
  sameDb(Number(summary.theirsSqnr), num(want.summary.theirs.sqnr_db), 'pooled theirs');
  sameDb(Number(summary.oursSqnr), num(want.summary.ours.sqnr_db), 'pooled ours');
}

test('a copy gguf-py wrote under other names: matched by fingerprint, the CLI\'s numbers', { timeout: 120_000 }, async () => {
  const want = cli(['diff', DIGITS, GGUFPY]);
  const rows = await compare('digits-mlp.safetensors', GGUFPY);
  assertRowsEqual(rows, want);
  await assertSummaryEqual(want);
  assert.equal(want.summary.by_fingerprint, 6);
  assert.ok(rows.every((r) => r.matchedBy === 'fingerprint'));
  // Fingerprint matches are marked in the table, and the plot has a point for every finite SQNR.
  const names = await page.$$eval('#theirs-table tbody tr td:first-child', (cells) => cells.map((c) => c.textContent));
  assert.ok(names.every((n) => n.endsWith('⁎')), names.join(' | '));
  const finite = want.tensors.flatMap((t) => [t.theirs.sqnr_db, t.ours?.sqnr_db]).filter((v) => typeof v === 'number').length;
  assert.equal(Number(await page.locator('#theirs-chart').getAttribute('data-points')), finite);
  assert.equal(await page.locator('#tensors tr[data-file="digits_ggufpy.gguf"][data-tensor="blk.1.ffn_up.weight"]').getAttribute('data-stored'), 'ggml Q4_0 blocks · 4.50 bits/w');
  await page.locator('section.theirs').screenshot({ path: path.join(ARTIFACTS, 'theirs.png') });
  // The float model stays the chosen file: the copy joined the list without taking the selection.
  assert.equal(await page.locator('#theirs-float option:checked').textContent(), 'digits-mlp.safetensors');
});

test('onnxruntime\'s per-channel QDQ copy of an ONNX model: renamed matches, the CLI\'s numbers', { timeout: 120_000 }, async () => {
  await page.setInputFiles('#file-input', FLOAT_ONNX);
  await page.locator('#tensors tbody[data-file="float.onnx"]').waitFor();
  const want = cli(['diff', FLOAT_ONNX, QDQ]);
  const rows = await compare('float.onnx', QDQ);
  assertRowsEqual(rows, want);
  await assertSummaryEqual(want);
  assert.ok(rows.filter((r) => r.name.endsWith('weight')).every((r) => r.matchedBy === 'renamed_name'));
  // "What quantization is this?": the tensor list says it for each stored-quantized tensor, with the
  // bits per weight `diff` reports for it (codes + the listed scale and zero-point tensors).
  const stored = (tensor) => page.locator(`#tensors tr[data-file="qdq_per_channel.onnx"][data-tensor="${tensor}"]`).getAttribute('data-stored');
  const fc = want.tensors.find((t) => t.name === 'fc.weight');
  assert.match(await stored('fc.weight_quantized'), /^stored 8-bit, per axis 1, onnx_dequantize_linear \(DequantizeLinear 'fc\.weight_DequantizeLinear'\) · 16 scales .*, 16 zero points · 8\.63 bits\/w$/);
  assert.equal(fc.theirs.bits_per_weight, 8.625);
  assert.match(await stored('conv.weight_quantized'), /^stored 8-bit, per axis 0, .* · 4 scales .*, 4 zero points · 12\.44 bits\/w$/);
  assert.match(await page.locator('#tensors tr[data-file="qdq_per_channel.onnx"][data-tensor="fc.weight_scale"]').textContent(), /quantization parameter of fc\.weight_quantized/);
});

test('a llama GGUF against its Hugging Face safetensors: attn_q / attn_k compared in llama.cpp\'s row order, the CLI\'s numbers', { timeout: 120_000 }, async () => {
  await page.setInputFiles('#file-input', LLAMA_HF);
  await page.locator('#tensors tbody[data-file="llama_hf.safetensors"]').waitFor();
  const want = cli(['diff', LLAMA_HF, LLAMA_GGUF]);
  const rows = await compare('llama_hf.safetensors', LLAMA_GGUF);
  assertRowsEqual(rows, want);
  await assertSummaryEqual(want);
  const permuted = want.tensors.filter((t) => t.llama_rows);
  assert.ok(permuted.length >= 2 && permuted.every((t) => /attn_[qk]/.test(t.quantized_name)), permuted.map((t) => t.quantized_name).join(' '));
  for (const t of permuted) {
    const row = rows.find((r) => r.name === t.name);
    assert.equal(row.llamaRows, String(t.llama_rows.heads), t.name);
  }
  assert.ok(rows.filter((r) => !permuted.some((t) => t.name === r.name)).every((r) => r.llamaRows === ''));
});

test('no request leaves 127.0.0.1 and the page raised no error', async () => {
  const elsewhere = session.requests.filter((url) => !url.startsWith('data:') && !url.startsWith('blob:') && new URL(url).origin !== session.origin);
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(session.pageErrors, []);
  assert.equal(await page.locator('#errors li').count(), 0, 'the page lists no error');
});
