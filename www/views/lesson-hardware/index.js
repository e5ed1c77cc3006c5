// Section 7 of the walk-through: FP32 against INT8 and INT4 speed on the reader's machine, by the speed
// panel's worker method (the core's timing policy, src/app/speed.rs) on a layer of the digits model.
import { isCancelled } from '../../app/bridge.js';
import { $, element } from '../../shared/dom.js';
import * as fmt from '../../shared/format.js';
import '../../shared/lesson.css';
import template from './template.html?raw';
import './style.css';

const FILE = 'digits-mlp.safetensors';
const TENSOR = 'fc2.weight';
const SEED = 42;
const TITLES = { fp32: 'FP32', int8: 'INT8 (u8 x per row × int8 W per channel)', int4: 'INT4 g32 (int8 x × int4 W per group of 32)' };
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
        element('tr', { dataset: { kernel: r.kernel, speedup: String(r.speedup) } }, [
          element('th', { scope: 'row', text: TITLES[r.kernel] ?? r.kernel }),
          element('td', { text: fmt.milliseconds(r.median_ms) }),
          element('td', { text: r.gops >= 10 ? r.gops.toFixed(1) : r.gops.toPrecision(2) }),
          element('td', { text: `${r.speedup.toFixed(2)}×` }),
          element('td', { text: r.error ? Number(r.error.sqnr_db).toFixed(2) : 'reference' }),
        ]),
      ),
    );
    Object.assign(ui.table.dataset, { state: 'ready', m: String(m) });
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
    ui = { batch: $('lesson-hardware-batch'), run: $('lesson-hardware-run'), cancel: $('lesson-hardware-cancel'), progress: $('lesson-hardware-progress'), status: $('lesson-hardware-status'), table: $('lesson-hardware-table') };
    $('lesson-hardware-form').addEventListener('submit', run);
    ui.cancel.addEventListener('click', () => running?.abort());
  },
  update() {
    ready(); // the digits file opens after mount
  },
};
