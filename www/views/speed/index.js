// The speed panel: y = W·x on the chosen weight W [n, k] (out, in) with x [m, k] from a seeded Gaussian,
// by the core's kernels in the worker — FP32, INT8 (dynamic: u8 activations per row × int8 weights per
// channel), INT4 (groups of 32 × int8 activations per row), and the MXFP4 and NF4 GEMVs (f32 x × W kept as
// codes + scales, decoded on the fly, one GEMV per row of x) — with each output's error against FP32's
// and the time per call (the core's timing policy, src/app/speed.rs). Runs only when asked: it takes a
// while, in the worker, with Cancel.
import { isCancelled } from '../../app/bridge.js';
import * as fmt from '../../shared/format.js';
import { $, element, readWholeNumber, showSeed } from '../../shared/dom.js';
import template from './template.html?raw';
import './style.css';

const MAX_SEED = 2 ** 53 - 1;

/** What each kernel is, for its row. */
const KERNELS = {
  fp32: { title: 'FP32', detail: 'f32 W × f32 x' },
  int8: { title: 'INT8', detail: 'int8 W per channel × u8 x per row' },
  int4: { title: 'INT4 g32', detail: 'int4 W per group of 32 × int8 x per row' },
  mxfp4: { title: 'MXFP4', detail: 'E2M1 W, E8M0 scale per 32 × f32 x, decoded on the fly' },
  nf4: { title: 'NF4', detail: 'NF4 W, f32 absmax per 64 × f32 x, decoded on the fly' },
};

const COLUMNS = [
  { key: 'sqnr_db', label: 'SQNR (dB)', format: fmt.fixed(2), error: true },
  { key: 'cosine', label: 'cosine', format: fmt.cosine, error: true },
  { key: 'max_abs_err', label: 'max abs error', format: fmt.scientific, error: true },
  {
    key: 'median_ms',
    label: 'time per call',
    format: fmt.milliseconds,
    title: (v, r) => `median of ${r.samples.length} runs of ${r.calls} call${r.calls === 1 ? '' : 's'} each: ${v.toFixed(4)} ms per call (runs from ${Math.min(...r.samples).toFixed(4)} to ${Math.max(...r.samples).toFixed(4)} ms)`,
  },
  { key: 'gops', label: 'GOPS', format: (v) => (v >= 10 ? v.toFixed(1) : v.toPrecision(2)), title: (v) => `2·m·n·k / time = ${v.toFixed(3)} billion operations a second` },
  { key: 'speedup', label: 'speedup', format: (v) => `${v.toFixed(2)}×`, title: (v) => `FP32's time / this time = ${v.toFixed(3)}` },
];

let ui;
let ctx;
let target = null; // the selection as a weight (format.js weightOf)
let running = null; // the AbortController of the run in flight

function readSeed() {
  return readWholeNumber(ui.seed, 0, MAX_SEED);
}

/** The button says what a press does (or why it cannot). */
function describeTarget() {
  if (running) return;
  const matrix = target?.matrix;
  const seed = readSeed();
  ui.run.disabled = !matrix || seed === null;
  if (!target) {
    ui.run.textContent = 'Run';
    ui.status.textContent = 'Choose a weight tensor.';
  } else if (!matrix) {
    ui.run.textContent = 'Run';
    ui.status.textContent = `${target.tensor} has one axis; the speed panel needs a weight of two or more, [out, in…].`;
  } else {
    const m = Number(ui.batch.value);
    ui.run.textContent = `Run y = W·x on ${target.tensor}`;
    const flat = target.shape.length > 2 ? ` (${fmt.shape(target.shape)} as a matrix)` : '';
    ui.status.textContent = seed === null
      ? `The seed must be a whole number from 0 to 2^53 − 1.`
      : `W [${matrix.n}, ${matrix.k}]${flat} × x [${m}, ${matrix.k}]: ${fmt.compact(2 * m * matrix.n * matrix.k)} operations a call.`;
  }
}

function mount(root, context) {
  ctx = context;
  ui = {
    form: $('speed-form'),
    batch: $('speed-batch'),
    seed: $('speed-seed'),
    newSeed: $('speed-new-seed'),
    run: $('speed-run'),
    cancel: $('speed-cancel'),
    progress: $('speed-progress'),
    status: $('speed-status'),
    table: $('speed-table'),
    legend: $('speed-legend'),
  };
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    run();
  });
  ui.form.addEventListener('input', describeTarget);
  ui.newSeed.addEventListener('click', async () => {
    ui.seed.value = String(await ctx.randomSeed());
    describeTarget();
  });
  ui.cancel.addEventListener('click', () => {
    ui.cancel.disabled = true;
    ui.status.textContent = 'Cancelling after the run in flight…';
    running?.abort();
  });
  // The seed shown before the first run: the core's getrandom, so that two people differ unless they share it.
  showSeed(ui.seed, ctx.randomSeed(), describeTarget);
  describeTarget();
}

function update(selection) {
  target = fmt.weightOf(selection);
  describeTarget();
}

async function run() {
  const matrix = target?.matrix;
  const seed = readSeed();
  if (running || !matrix || seed === null) return;
  const m = Number(ui.batch.value);
  const job = target;
  running = new AbortController();
  ui.run.disabled = true;
  ui.cancel.hidden = false;
  ui.cancel.disabled = false;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.table.setAttribute('aria-busy', 'true');
  ui.status.textContent = `Packing ${job.tensor} and warming up…`;
  const errorKey = `speed:${job.fileId}:${job.tensor}`;
  try {
    const result = await ctx.run('speed', [job.fileId, job.tensor, { m, seed }], {
      signal: running.signal,
      onProgress: (done, total) => {
        ui.progress.value = done / total;
        ui.status.textContent = `Timing: step ${done} of ${total}…`;
      },
    });
    render({ ...result, tensor: job.tensor, file: job.file });
    ctx.clearError(errorKey);
    ui.status.textContent = `Done: median of ${result.rows[0].samples.length} runs per kernel after warm-up, in the worker.`;
  } catch (error) {
    if (isCancelled(error)) {
      ui.status.textContent = 'Cancelled; the table shows the last complete run.';
    } else {
      ctx.setError(errorKey, `${job.file}: speed panel on '${job.tensor}': ${error?.message ?? error}`);
      ui.status.textContent = 'The run stopped; see the message above.';
    }
  } finally {
    running = null;
    ui.cancel.hidden = true;
    ui.progress.hidden = true;
    ui.table.removeAttribute('aria-busy');
    const status = ui.status.textContent;
    describeTarget();
    ui.status.textContent = status;
  }
}

/** The result table: one row per kernel, the FP32 row as the reference. */
function render(result) {
  const { rows, m, n, k, seed, build, tensor, file } = result;
  const caption = element('caption', {}, [
    element('strong', { text: tensor }),
    ` — W [${n}, ${k}] × x [${m}, ${k}], x ~ N(0, 1) from seed ${seed}; kernels: `,
    element('code', { text: build }),
  ]);
  const head = element('tr', {}, [element('th', { scope: 'col', text: 'kernel' }), ...COLUMNS.map((c) => element('th', { scope: 'col', text: c.label }))]);
  const body = element('tbody');
  const fastest = Math.min(...rows.map((r) => r.median_ms));
  for (const r of rows) {
    const about = KERNELS[r.kernel];
    const tr = element('tr', { dataset: { kernel: r.kernel, checksum: r.checksum } }, [element('th', { scope: 'row' }, [about.title, element('small', { text: about.detail })])]);
    for (const c of COLUMNS) {
      let raw = c.error ? r.error?.[c.key] : r[c.key];
      const td = element('td', { dataset: { kernel: r.kernel, metric: c.key } });
      if (c.error && r.kernel === 'fp32') {
        td.textContent = 'reference';
        td.classList.add('reference');
      } else {
        const v = fmt.numeric(raw);
        td.dataset.value = String(raw);
        td.textContent = v === null ? '—' : c.format(v);
        td.title = v === null ? 'not defined' : c.title ? c.title(v, r) : String(raw);
      }
      if (c.key === 'median_ms' && r.median_ms === fastest && rows.length > 1) {
        td.classList.add('best');
        td.append(element('span', { class: 'mark', 'aria-label': 'fastest', text: ' ★' }));
      }
      tr.append(td);
    }
    body.append(tr);
  }
  ui.table.replaceChildren(caption, element('thead', {}, [head]), body);
  Object.assign(ui.table.dataset, { state: 'ready', tensor, file, m: String(m), seed: String(seed), build });
  const ref = rows.find((r) => r.kernel === 'fp32');
  ui.legend.textContent = `Error: each output y against the FP32 output (whose largest |y| is ${fmt.scientific(ref.max_abs_output)}). `
    + `Time: the median per call of ${ref.samples.length} runs after warm-up, each run a batch of calls long enough for the worker's 0.1 ms clock, the kernels taking turns. `
    + 'INT8 and INT4 are dynamic: each call quantizes x (per row, min-max) before the integer matmul, and that time counts, as does copying x in and y out for every kernel. '
    + 'MXFP4 and NF4 keep x in f32 and decode W\'s 4-bit codes and block scales into registers as they go (W is never written out as f32). Weights are quantized and packed once, before timing. '
    + 'GOPS = 2·m·n·k / time; speedup = FP32 time / time. One thread, on a machine that may be busy with other work: run again to see the spread.';
}

export default { id: 'speed', title: 'Speed: y = W·x in this tab', template, mount, update };
