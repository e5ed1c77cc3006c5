// The "Synthetic activations" control: a seeded activation set (rows × 768 F32) from the core's generators,
// made in the worker as the bytes of a .safetensors file and opened exactly like a dropped file. The seed is
// the core's getrandom by default, shown, and can be typed in to reproduce a set.
//
// "Activation batches": several .npy files (or the arrays of one .npz) are batches of ONE activation set,
// calibrated in streaming fashion by the core (calib/batches.rs) in the worker — each batch read from its
// file, used and dropped — into the calibration table `quant-playground calibrate FILE… --batches --json` prints.
import { $, element, readWholeNumber } from './dom.js';
import { renderTable } from './calibration.js';
const ui = {
  form: $('synth-form'),
  dist: $('synth-dist'),
  rows: $('synth-rows'),
  seed: $('synth-seed'),
  newSeed: $('synth-new-seed'),
  generate: $('synth-generate'),
};
const MAX_SEED = Number.MAX_SAFE_INTEGER;
const MAX_ROWS = 65536;

let deps; // { engine, openFiles, onError, clearError, spec, methodName }
let busy = false;

function readSeed() {
  return readWholeNumber(ui.seed, 0, MAX_SEED);
}

function readRows() {
  const rows = Number(ui.rows.value);
  const ok = Number.isInteger(rows) && rows >= 1 && rows <= MAX_ROWS;
  ui.rows.setAttribute('aria-invalid', String(!ok));
  return ok ? rows : null;
}

function update() {
  ui.generate.disabled = busy || !ui.dist.value || readSeed() === null || readRows() === null;
}

/** Fills the distributions and the first seed; `deps.openFiles(files, tensor)` opens the generated file. */
export function start(distributions, seed, d) {
  deps = d;
  ui.dist.replaceChildren(...distributions.map((name) => Object.assign(document.createElement('option'), { value: name, textContent: name })));
  if (!ui.seed.value) ui.seed.value = String(seed);
  update();
}

ui.form.addEventListener('input', update);
ui.newSeed.addEventListener('click', async () => {
  if (!deps) return;
  ui.seed.value = String(await deps.engine.randomSeed());
  update();
});
ui.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const dist = ui.dist.value;
  const rows = readRows();
  const seed = readSeed();
  if (!deps || busy || !dist || rows === null || seed === null) return;
  busy = true;
  update();
  ui.form.setAttribute('aria-busy', 'true');
  try {
    const bytes = await deps.engine.syntheticActivations(dist, rows, seed);
    deps.clearError('synth');
    await deps.openFiles([new File([bytes], `activations-${dist}-seed-${seed}.safetensors`)], 'activations');
  } catch (error) {
    deps.onError('synth', `Synthetic ${dist} activations: ${error?.message ?? error}`);
  } finally {
    busy = false;
    ui.form.removeAttribute('aria-busy');
    update();
  }
});

// ---- activation batches ----------------------------------------------------------------------------

const batchesUi = {
  input: $('batches-input'),
  status: $('batches-status'),
  wrap: $('batches-wrap'),
  table: $('batches-table'),
};
let calibrating = false;

batchesUi.input.addEventListener('change', () => {
  const files = [...batchesUi.input.files];
  batchesUi.input.value = ''; // choosing the same files again is a change too
  if (files.length) calibrateBatches(files);
});

async function calibrateBatches(files) {
  if (!deps || calibrating) return;
  const spec = deps.spec();
  if (!spec) {
    batchesUi.status.textContent = 'Fix the settings of the comparison first (bits and scheme are read from there).';
    return;
  }
  calibrating = true;
  batchesUi.table.setAttribute('aria-busy', 'true');
  const names = files.map((f) => f.name).join(', ');
  batchesUi.status.textContent = `Calibrating ${names}…`;
  try {
    const report = await deps.engine.calibrateBatches(files, spec.bits, spec.scheme);
    deps.clearError('batches');
    const label = files.length === 1 ? files[0].name : `${files.length} files`;
    renderTable(batchesUi.table, report, { tensor: label, methodName: deps.methodName, chosen: null });
    Object.assign(batchesUi.table.dataset, { state: 'ready', batches: String(report.batches), values: String(report.elements) });
    batchesUi.wrap.hidden = false;
    batchesUi.status.replaceChildren(summary(report));
  } catch (error) {
    deps.onError('batches', `Activation batches (${names}): ${error?.message ?? error}`);
    batchesUi.status.textContent = 'Calibration stopped; see the message above.';
  } finally {
    calibrating = false;
    batchesUi.table.removeAttribute('aria-busy');
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
