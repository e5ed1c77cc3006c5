// Section 7 of the walk-through: FP32 against INT8, INT4, MXFP4 and NF4 speed on the reader's machine, by
// the speed panel's worker method (the core's timing policy, src/app/speed.rs) on a layer of the digits
// model, each y's checksum shown (`quant-playground lesson hardware` prints the same), and the measured
// INT8 speed-up put beside the published figures of the template (energy per operation, data sheets).
import { isCancelled } from '../../app/bridge.js';
import { $, element } from '../../shared/dom.js';
import * as fmt from '../../shared/format.js';
import '../../shared/lesson.css';
import template from './template.html?raw';
import './style.css';

const FILE = 'digits-mlp.safetensors';
const TENSOR = 'fc2.weight';
const SEED = 42;
const TITLES = {
  fp32: 'FP32',
  int8: 'INT8 (u8 x per row × int8 W per channel)',
  int4: 'INT4 g32 (int8 x × int4 W per group of 32)',
  mxfp4: 'MXFP4 (f32 x × E2M1 W, E8M0 scale per 32)',
  nf4: 'NF4 (f32 x × NF4 W, absmax per 64)',
};
const gopsText = (g) => (g >= 10 ? g.toFixed(1) : g.toPrecision(2));

/** The data sheets' row for this tab: FP32 and INT8 GOPS as TFLOPS / TOPS, their ratio, and the sentence. */
function showMeasured(rows, m, build) {
  const fp32 = rows.find((r) => r.kernel === 'fp32');
  const int8 = rows.find((r) => r.kernel === 'int8');
  const ratio = int8.gops / fp32.gops;
  const here = $('lesson-hardware-here');
  Object.assign(here.dataset, { fp32: String(fp32.gops / 1000), int8: String(int8.gops / 1000), ratio: String(ratio) });
  here.cells[1].textContent = (fp32.gops / 1000).toPrecision(3);
  here.cells[2].textContent = (int8.gops / 1000).toPrecision(3);
  here.cells[3].textContent = `${ratio.toFixed(2)}×`;
  ui.measured.textContent = `Here (${build}, batch m = ${m}): INT8 ran ${ratio.toFixed(2)}× as many operations a second as FP32. `
    + 'The data sheets promise 16–32× on GPUs with INT8 Tensor Cores, and the energy table 18–30× less energy per operation: '
    + 'a CPU core without 8-bit dot-product instructions in WebAssembly gains far less, and at m = 1 memory traffic, not arithmetic, sets the pace.';
}
let ui;
let ctx;
let running = null;

function digitsFile() {
  return ctx.state.files.find((f) => f.name === FILE && f.index?.tensors?.some((t) => t.name === TENSOR)) ?? null;
}

async function run(event) {
  event.preventDefault();
  const file = digitsFile();
  if (!file || running) return;
  running = new AbortController();
  Object.assign(ui.progress, { hidden: false, value: 0 });
  ui.cancel.hidden = false;
  ui.run.disabled = true;
  ui.status.textContent = 'Timing…';
  try {
    const m = Number(ui.batch.value);
    const result = await ctx.run('speed', [file.id, TENSOR, { m, seed: SEED }], {
      signal: running.signal,
      onProgress: (done, total) => (ui.progress.value = done / total),
    });
    ui.table.tBodies[0].replaceChildren(
      ...result.rows.map((r) =>
        element('tr', { dataset: { kernel: r.kernel, speedup: String(r.speedup), median: String(r.median_ms), gops: String(r.gops), checksum: r.checksum } }, [
          element('th', { scope: 'row', text: TITLES[r.kernel] ?? r.kernel }),
          element('td', { text: fmt.milliseconds(r.median_ms) }),
          element('td', { text: gopsText(r.gops) }),
          element('td', { text: `${r.speedup.toFixed(2)}×` }),
          element('td', { text: r.error ? Number(r.error.sqnr_db).toFixed(2) : 'reference' }),
          element('td', { class: 'mono', text: r.checksum }),
        ]),
      ),
    );
    showMeasured(result.rows, m, result.build);
    Object.assign(ui.table.dataset, { state: 'ready', m: String(m), seed: String(SEED), build: result.build });
    ui.status.textContent = `Done with the ${result.build} build: median of ${result.rows[0].samples.length} runs per kernel after warm-up.`;
    ctx.clearError('lesson-hardware');
  } catch (error) {
    if (isCancelled(error)) ui.status.textContent = 'Cancelled.';
    else ctx.setError('lesson-hardware', `Hardware: ${error.message}`);
  } finally {
    running = null;
    ui.progress.hidden = true;
    ui.cancel.hidden = true;
    ready();
  }
}

function ready() {
  if (running) return;
  const file = digitsFile();
  ui.run.disabled = !file;
  if (file && ui.table.dataset.state === 'empty') ui.status.textContent = `Press Run to time ${TENSOR} of the digits model.`;
}

export default {
  id: 'lesson-hardware',
  title: 'Hardware: is INT8 faster here?',
  route: 'lesson',
  template,
  mount(root, context) {
    ctx = context;
    ui = { batch: $('lesson-hardware-batch'), run: $('lesson-hardware-run'), cancel: $('lesson-hardware-cancel'), progress: $('lesson-hardware-progress'), status: $('lesson-hardware-status'), table: $('lesson-hardware-table'), measured: $('lesson-hardware-measured') };
    $('lesson-hardware-form').addEventListener('submit', run);
    ui.cancel.addEventListener('click', () => running?.abort());
  },
  update() {
    ready(); // the digits file opens after mount
  },
};
