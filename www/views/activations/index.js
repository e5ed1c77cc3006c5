// The "Synthetic activations" control: a seeded activation set (rows × 768 F32) from the core's generators,
// made in the worker as the bytes of a .safetensors file and opened exactly like a dropped file. The seed is
// the core's getrandom by default, shown, and can be typed in to reproduce a set.
//
// "Activation batches": several .npy files (or the arrays of one .npz) are batches of ONE activation set,
// calibrated in streaming fashion by the core (calib/batches.rs) in the worker — each batch read from its
// file, used and dropped — into the calibration table `quant-playground calibrate FILE… --batches --json` prints.
import { isCancelled } from '../../app/bridge.js';
import { renderTable } from '../../shared/calibration-table.js';
import { $, element, readWholeNumber, showSeed } from '../../shared/dom.js';
import template from './template.html?raw';
import './style.css';

const MAX_SEED = Number.MAX_SAFE_INTEGER;
const MAX_ROWS = 65536;

let ui;
let ctx;
let busy = false;
let settings = null; // the comparison's settings: batches are calibrated at its bits and scheme
let calibrating = null; // the AbortController of the batches in flight

function readSeed() {
  return readWholeNumber(ui.seed, 0, MAX_SEED);
}

function readRows() {
  const rows = Number(ui.rows.value);
  const ok = Number.isInteger(rows) && rows >= 1 && rows <= MAX_ROWS;
  ui.rows.setAttribute('aria-invalid', String(!ok));
  return ok ? rows : null;
}

function refresh() {
  ui.generate.disabled = busy || !ui.dist.value || readSeed() === null || readRows() === null;
}

function mount(root, context) {
  ctx = context;
  ui = {
    form: $('synth-form'),
    dist: $('synth-dist'),
    rows: $('synth-rows'),
    seed: $('synth-seed'),
    newSeed: $('synth-new-seed'),
    generate: $('synth-generate'),
    batchesInput: $('batches-input'),
    batchesStatus: $('batches-status'),
    batchesWrap: $('batches-wrap'),
    batchesTable: $('batches-table'),
    batchesCancel: $('batches-cancel'),
    batchesProgress: $('batches-progress'),
  };
  ui.dist.replaceChildren(...ctx.catalog.distributions.map((name) => element('option', { value: name, text: name })));
  // The seed shown before the first run: the core's getrandom, so that two people differ unless they share it.
  showSeed(ui.seed, ctx.randomSeed(), refresh);
  ui.form.addEventListener('input', refresh);
  ui.newSeed.addEventListener('click', async () => {
    ui.seed.value = String(await ctx.randomSeed());
    refresh();
  });
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    generate();
  });
  ui.batchesInput.addEventListener('change', () => {
    const files = [...ui.batchesInput.files];
    ui.batchesInput.value = ''; // choosing the same files again is a change too
    if (files.length) calibrateBatches(files);
  });
  ui.batchesCancel.addEventListener('click', () => {
    ui.batchesCancel.disabled = true;
    ui.batchesStatus.textContent = 'Cancelling after the batch in flight…';
    calibrating?.abort();
  });
  refresh();
}

function update(selection, current) {
  settings = current;
}

/** A seeded activation set (rows × 768 F32) made in the worker as a .safetensors file, opened like a dropped one. */
async function generate() {
  const dist = ui.dist.value;
  const rows = readRows();
  const seed = readSeed();
  if (busy || !dist || rows === null || seed === null) return;
  busy = true;
  refresh();
  ui.form.setAttribute('aria-busy', 'true');
  try {
    const bytes = await ctx.run('syntheticActivations', [dist, rows, seed]);
    ctx.clearError('synth');
    await ctx.openFiles([new File([bytes], `activations-${dist}-seed-${seed}.safetensors`)], 'activations');
  } catch (error) {
    ctx.setError('synth', `Synthetic ${dist} activations: ${error?.message ?? error}`);
  } finally {
    busy = false;
    ui.form.removeAttribute('aria-busy');
    refresh();
  }
}

async function calibrateBatches(files) {
  if (calibrating) return;
  const spec = settings?.spec;
  if (!spec) {
    ui.batchesStatus.textContent = 'Fix the settings of the comparison first (bits and scheme are read from there).';
    return;
  }
  calibrating = new AbortController();
  ui.batchesTable.setAttribute('aria-busy', 'true');
  ui.batchesCancel.hidden = false;
  ui.batchesCancel.disabled = false;
  ui.batchesProgress.hidden = false;
  ui.batchesProgress.value = 0;
  const names = files.map((f) => f.name).join(', ');
  ui.batchesStatus.textContent = `Calibrating ${names}…`;
  try {
    const report = await ctx.run('calibrateBatches', [files, spec.bits, spec.scheme], {
      signal: calibrating.signal,
      onProgress: (done, total) => {
        ui.batchesProgress.value = done / total;
      },
    });
    ctx.clearError('batches');
    const label = files.length === 1 ? files[0].name : `${files.length} files`;
    renderTable(ui.batchesTable, report, { tensor: label, methodName: ctx.methodName, chosen: null });
    Object.assign(ui.batchesTable.dataset, { state: 'ready', batches: String(report.batches), values: String(report.elements) });
    ui.batchesWrap.hidden = false;
    ui.batchesStatus.replaceChildren(summary(report));
  } catch (error) {
    if (isCancelled(error)) {
      ui.batchesStatus.textContent = 'Cancelled; the table shows the last complete calibration.';
    } else {
      ctx.setError('batches', `Activation batches (${names}): ${error?.message ?? error}`);
      ui.batchesStatus.textContent = 'Calibration stopped; see the message above.';
    }
  } finally {
    calibrating = null;
    ui.batchesTable.removeAttribute('aria-busy');
    ui.batchesCancel.hidden = true;
    ui.batchesProgress.hidden = true;
  }
}

/** "Calibrated 3 batches of 1000 + 1000 + 1000 = 3000 values", the batches named in the title. */
function summary(report) {
  const sizes = report.batch_values;
  const total = sizes.reduce((a, b) => a + b, 0);
  const parts = sizes.length > 1 && sizes.length <= 8 ? ` of ${sizes.join(' + ')} = ${total} values` : ` of ${total} values in all`;
  const title = report.sources.map((s, i) => `${i + 1}. ${s.file}: ${s.tensor} (${sizes[i]} values)`).join('\n');
  return element('span', { title, dataset: { batches: String(report.batches) } }, [`Calibrated ${report.batches} batch${report.batches === 1 ? '' : 'es'}${parts}.`]);
}

export default { id: 'activations', title: 'Synthetic activations and activation batches', template, mount, update };
