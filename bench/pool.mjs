// The whole-model table on one worker and on the pool (issue 16: ≥ 1.7× on 2 cores for a ~90 MB model):
// the built page (dist/, `npx vite build`) in headless Chromium, two tabs side by side (?workers=1 and
// ?workers=N, N = the browser's hardwareConcurrency unless --pool-workers N), the same ~90 MB safetensors
// file opened in each, the whole-model table (int8 sym per channel, then Q4_K) run in turn in one tab and the other
// (the order swapped each round), so that both see the same load of the machine; medians of the
// click-to-table times (performance.now in the page) and their ratio.
// `node bench/pool.mjs [--samples N] [--pool-workers N]` alone, or the pool block of `npm run bench`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { random, safetensorsHeader } from '../tests/e2e/lib.mjs';
import { launchChromium, serveFiles } from './serve.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
/** The target for the pool on a 2-core machine. */
export const POOL_TARGET = 1.7;

/**
 * A ~90 MB F32 safetensors file shaped like a small transformer (the e2e test's large file): an embedding
 * [8192, 512] and six layers of four [512, 512] projections, an MLP pair [2048, 512] / [512, 2048] and two
 * norms; bell-shaped values (a sum of three uniforms). Returns { tensors, bytes }.
 */
export function writeNinetyMegabytes(file) {
  const tensors = [{ name: 'embed.weight', shape: [8192, 512] }];
  for (let l = 0; l < 6; l++) {
    for (const p of ['q', 'k', 'v', 'o']) tensors.push({ name: `layers.${l}.attn.${p}_proj.weight`, shape: [512, 512] });
    tensors.push({ name: `layers.${l}.mlp.up.weight`, shape: [2048, 512] }, { name: `layers.${l}.mlp.down.weight`, shape: [512, 2048] });
    tensors.push({ name: `layers.${l}.norm1.weight`, shape: [512] }, { name: `layers.${l}.norm2.weight`, shape: [512] });
  }
  for (const t of tensors) Object.assign(t, { dtype: 'F32', length: t.shape.reduce((a, b) => a * b, 1) * 4 });
  const values = new Float32Array(tensors.reduce((a, t) => a + t.length, 0) / 4);
  const next = random(99);
  for (let i = 0; i < values.length; i++) values[i] = (next() + next() + next() - 1.5) * 0.05;
  const bytes = Buffer.concat([safetensorsHeader(tensors), Buffer.from(values.buffer)]);
  writeFileSync(file, bytes);
  return { tensors: tensors.length, bytes: bytes.length };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/** A tab of the built page with `workers` workers and `file` open, int8 sym per channel chosen, Q4_K added. */
async function openTab(browser, origin, workers, file, name) {
  const page = await browser.newPage();
  page.setDefaultTimeout(10 * 60_000);
  page.on('pageerror', (e) => console.log(`[bench] page error (${workers} workers): ${e.message}`));
  await page.goto(`${origin}/index.html?workers=${workers}&add=q4_k`);
  await page.locator('#tensors tbody[data-file="example-seed-42.safetensors"]').waitFor();
  // The bench keeps the File too, to time reading it alone (readFloor).
  await page.evaluate(() => document.getElementById('file-input').addEventListener('change', (e) => { window.benchFile = e.target.files[0]; }, { capture: true }));
  await page.setInputFiles('#file-input', file);
  await page.locator(`#tensors tbody[data-file="${name}"]`).waitFor();
  await page.locator('[data-preset="int8"]').click();
  const shown = await page.locator('#model-workers').getAttribute('data-workers');
  if (shown !== String(workers)) throw new Error(`the page runs ${shown} workers where ${workers} were asked for`);
  return page;
}

/**
 * One whole-model run, click to table, timed in the page (performance.now, not the test's clock): { wall,
 * wasm, read }, wasm being the sum of the tensors' times in the modules (the table's time column), so wasm
 * / wall says how many workers were busy on average, and read the sum of their reads from the File (the
 * read column: Blob.slice + arrayBuffer, in the workers).
 */
function timeRun(page) {
  return page.evaluate(() => new Promise((resolve, reject) => {
    const result = document.getElementById('model-result');
    const cancel = document.getElementById('model-cancel');
    const started = performance.now();
    const observer = new MutationObserver(() => {
      if (cancel.hidden && !result.hidden && document.getElementById('model-run').disabled === false) {
        observer.disconnect();
        const status = document.getElementById('model-status').textContent;
        if (!/ tensors in /.test(status)) reject(new Error(`the run did not finish: ${status}`));
        else {
          const wall = performance.now() - started;
          const sum = (metric) => [...document.querySelectorAll(`#model-all td[data-metric="${metric}"]`)].reduce((a, td) => a + Number(td.dataset.value), 0);
          resolve({ wall, wasm: sum('time_ms'), read: sum('read_ms') });
        }
      }
    });
    observer.observe(document.querySelector('.model'), { subtree: true, attributes: true, childList: true, characterData: true });
    document.getElementById('model-run').click();
  }));
}

/**
 * What no pool can beat: reading every byte of the file as the workers do (Blob.slice, 4 MiB at a time),
 * by one reader, and by `lanes` readers at once (each its own share, as that many workers would).
 */
function readFloor(page, lanes) {
  return page.evaluate(async (lanes) => {
    const file = window.benchFile;
    const chunk = 4 * 2 ** 20;
    const started = performance.now();
    await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
      for (let at = lane * chunk; at < file.size; at += lanes * chunk) await file.slice(at, at + chunk).arrayBuffer();
    }));
    return performance.now() - started;
  }, lanes);
}

/**
 * The configurations timed: int8 per channel, whose module time is small beside reading the file, and
 * Q4_K (ggml's reference quantizer searches each block's scales), where the module's work dominates.
 */
const CONFIGS = ['int8 sym channel:0', 'q4_k'];

/** Chooses the whole-model view's configuration by its text (the settings' own, or an added column). */
async function chooseConfig(page, text) {
  const value = await page.locator('#model-config option').evaluateAll((options, t) => options.find((o) => o.textContent === t)?.value, text);
  if (value === undefined) throw new Error(`the whole-model view offers no configuration ${text}`);
  await page.selectOption('#model-config', value);
}

/**
 * Runs the bench; returns { rows, checks } in the runner's row shape (engine, op, ms), one pair of rows
 * and one check per configuration, and the file-read floor. `samples` runs per tab and configuration,
 * after one warm-up run each.
 */
export async function runPoolBench({ samples = 5, poolWorkers = null } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'quant-playground-pool-bench-'));
  const file = join(dir, 'whole-model-90mb.safetensors');
  const info = writeNinetyMegabytes(file);
  const { server, origin } = await serveFiles((path) => join(root, 'dist', path));
  const browser = await launchChromium();
  try {
    const probe = await browser.newPage();
    await probe.goto(`${origin}/index.html`);
    const cores = await probe.evaluate(() => navigator.hardwareConcurrency);
    await probe.close();
    const pool = poolWorkers ?? Math.max(1, Math.min(cores, 8));
    const name = 'whole-model-90mb.safetensors';
    const one = await openTab(browser, origin, 1, file, name);
    const many = await openTab(browser, origin, pool, file, name);
    const wall = (list) => list.map((t) => t.wall);
    const busy = (list) => median(list.map((t) => t.wasm / t.wall));
    const reading = (list) => median(list.map((t) => t.read));
    const inModule = (list) => median(list.map((t) => t.wasm));
    const mb = (info.bytes / 1e6).toFixed(1);
    const rows = [];
    const checks = [];
    for (const config of CONFIGS) {
      await chooseConfig(one, config);
      await chooseConfig(many, config);
      await timeRun(one); // warm-up: first reads of the file, the workers' first allocations
      await timeRun(many);
      const times = { one: [], many: [] };
      // In turn, and the order swapped each round: a change of the machine's load falls on both alike.
      for (let i = 0; i < samples; i++) {
        if (i % 2 === 0) {
          times.one.push(await timeRun(one));
          times.many.push(await timeRun(many));
        } else {
          times.many.push(await timeRun(many));
          times.one.push(await timeRun(one));
        }
      }
      const [a, b] = [median(wall(times.one)), median(wall(times.many))];
      const row = { env: 'chromium', engine: 'quant-playground', op: 'whole-model-table', config, mb, tensors: info.tensors };
      rows.push({ ...row, workers: 1, ms: a, samples: wall(times.one), busy: busy(times.one), read: reading(times.one), wasm: inModule(times.one) });
      rows.push({ ...row, workers: pool, ms: b, samples: wall(times.many), busy: busy(times.many), read: reading(times.many), wasm: inModule(times.many) });
      const load = loadavg().map((l) => l.toFixed(1)).join(' ');
      checks.push({ env: 'chromium', target: `whole-model table (${config}), ${pool} workers vs 1 (${cores} cores)`, want: POOL_TARGET, got: a / b, met: a / b >= POOL_TARGET, load });
    }
    const reads = { one: [], many: [] };
    for (let i = 0; i < samples; i++) {
      reads.one.push(await readFloor(one, 1));
      reads.many.push(await readFloor(one, pool));
    }
    const floor = { one: median(reads.one), many: median(reads.many), lanes: pool };
    return { rows, checks, cores, pool, info, floor };
  } finally {
    await browser.close();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The table: one line per configuration and pool size, the read floor, then each target with met / not met and the machine's load. */
export function printPoolReport({ rows, checks, cores, info, floor }) {
  console.log(`\n## Whole-model table, ${rows[0].mb} MB safetensors (${info.tensors} tensors), Chromium, ${cores} logical cores\n`);
  console.log('| configuration | workers | median ms | workers busy (Σ wasm time / wall, median) | Σ wasm ms | Σ read ms (Blob.slice + arrayBuffer, over the workers) | samples (ms) |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.config} | ${r.workers} | ${r.ms.toFixed(0)} | ${r.busy.toFixed(2)} | ${r.wasm.toFixed(0)} | ${r.read.toFixed(0)} | ${r.samples.map((s) => s.toFixed(0)).join(' ')} |`);
  console.log(`\nReading the file alone (Blob.slice, 4 MiB at a time, as the workers read it): ${floor.one.toFixed(0)} ms by one reader, ${floor.many.toFixed(0)} ms by ${floor.lanes} at once (${(floor.one / floor.many).toFixed(2)}×): the part of a run the pool can only overlap as far as the browser's file reads do.\n`);
  for (const c of checks) console.log(`${c.target}: ${c.got.toFixed(2)}× (target ≥ ${c.want}×) — ${c.met ? 'met' : 'not met'}; load average ${c.load} (1, 5, 15 min)`);
  console.log('The machine is shared with other sessions: a ratio is only as good as the idle cores it found.');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const opt = (name) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : null);
  const result = await runPoolBench({ samples: opt('--samples') ?? 5, poolWorkers: opt('--pool-workers') });
  printPoolReport(result);
}
