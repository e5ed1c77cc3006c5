// The page: opens files through the worker, lists their tensors, shows the comparison, the pictures and the
// calibration methods for the chosen tensor and settings, times the matmul kernels on it when asked (speed.js),
// and runs one configuration over a whole model. All computing happens in
// www/worker.js (wasm), called through comlink; the configuration and the chosen tensor live in the URL.
import * as Comlink from 'comlink';
import * as activations from './activations.js';
import * as calibration from './calibration.js';
import * as charts from './charts.js';
import { notesFor, renderComparison } from './comparison.js';
import { PRESETS, parseLabel, readQuery, specLabel, writeQuery } from './config.js';
import * as digits from './digits.js';
import * as fmt from './format.js';
import * as model from './model.js';
import * as exporter from './export.js';
import * as speed from './speed.js';
import * as outputs from './outputs.js';
import { defaultTensor, isQuantizable, renderHead, renderTensorList } from './tensor-list.js';
import { $ } from './dom.js';

const EXAMPLE_SEED = 42;
const EXAMPLE_TENSOR = 'fc2.weight';
/** INT8 and INT4 are always compared; the bits control adds a column for any other width. */
const HEADLINE_BITS = [8, 4];
const BINS = 256;

const ui = {
  fileInput: $('file-input'),
  memory: $('wasm-memory'),
  errors: $('errors'),
  status: $('status'),
  filter: $('tensor-filter'),
  tensors: $('tensors'),
  settings: $('settings'),
  calibration: $('calibration'),
  addColumn: $('add-column'),
  configLabel: $('config-label'),
  comparison: $('comparison'),
  notes: $('notes'),
  kernel: $('kernel'),
  overlay: $('drop-overlay'),
  picturesOf: $('pictures-of'),
  valuesChart: $('values-chart'),
  valuesLog: $('values-log'),
  valuesLegend: $('values-legend'),
  errorConfig: $('error-config'),
  errorsChart: $('errors-chart'),
  errorsLegend: $('errors-legend'),
  scalesChart: $('scales-chart'),
  scalesConfig: $('scales-config'),
  scalesLegend: $('scales-legend'),
  paretoChart: $('pareto-chart'),
  paretoProgress: $('pareto-progress'),
  paretoLegend: $('pareto-legend'),
  calibrationOf: $('calibration-of'),
  calibrationTable: $('calibration-table'),
  klChart: $('kl-chart'),
  klLegend: $('kl-legend'),
  mseChart: $('mse-chart'),
  mseLegend: $('mse-legend'),
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
worker.addEventListener('error', (event) => {
  setError('worker', `The wasm worker could not start: ${event.message || 'see the browser console for details'}.`);
});
const engine = Comlink.wrap(worker);

const fromUrl = readQuery(location.search);
const state = {
  files: [], // [{ id, name, size, lastModified, index }]
  selected: null, // { fileId, tensor }
  ticked: new Set(), // `${fileId}:${tensor}` ticked for the whole-model run
  sort: { key: 'order', dir: 1 },
  filter: '',
  added: fromUrl.added, // specs the person added as columns
  errorConfig: fromUrl.view.error ?? null, // the column whose error histogram is shown
  wanted: fromUrl.view.tensor ? { file: fromUrl.view.file, tensor: fromUrl.view.tensor } : null, // from the URL
  rows: null, // the comparison shown
  explored: null, // the pictures' numbers shown
  sweep: null, // { key, rows } of the Pareto view
  calibrated: null, // { key, report } of the calibration panel
};

// ---- errors and status -------------------------------------------------------------------------------

const errors = new Map(); // key → message; one message per file, per setting, per computation

function setError(key, message) {
  errors.set(key, message);
  renderErrors();
}

function clearError(key) {
  if (errors.delete(key)) renderErrors();
}

function renderErrors() {
  const items = [...errors.values()].map((message) => Object.assign(document.createElement('li'), { textContent: message }));
  ui.errors.querySelector('ul').replaceChildren(...items);
  ui.errors.hidden = items.length === 0;
}

ui.errors.querySelector('.dismiss').addEventListener('click', () => {
  errors.clear();
  renderErrors();
});

/** The message with the file name in front (the module's own messages usually start with it already). */
function describe(fileName, error) {
  const message = (error?.message ?? String(error)).trim();
  return message.startsWith(`${fileName}:`) ? message : `${fileName}: ${message}`;
}

function setStatus(text) {
  ui.status.textContent = text;
}

// ---- files ------------------------------------------------------------------------------------------

function sameFile(a, b) {
  return a.name === b.name && a.size === b.size && a.lastModified === b.lastModified;
}

/**
 * Files chosen or dropped together open as models: shards with or without their index JSON, an .onnx with
 * its external data, any other file on its own (the worker groups them). A file that fails shows its error
 * in place; the others, and everything opened before, stay.
 */
async function openFiles(list, preferredTensor, { unlessChosen = false } = {}) {
  const opened = [];
  if (!(unlessChosen && state.selected)) {
    setStatus(list.length === 1 ? `Reading the header of ${list[0].name}…` : `Reading the headers of ${list.length} files…`);
  }
  let result;
  try {
    result = await engine.openFiles(list);
  } catch (error) {
    result = { opened: [], errors: [{ file: list.map((f) => f.name).join(', '), message: error?.message ?? String(error) }] };
  }
  for (const name of list.map((f) => f.name)) clearError(`file:${name}`);
  for (const { file, message } of result.errors) setError(`file:${file}`, describe(file, { message }));
  for (const { id, name, size, lastModified, members, index } of result.opened) {
    // Opening the same file again replaces the older entry instead of listing it twice.
    for (const old of state.files.filter((f) => sameFile(f, { name, size, lastModified }))) closeFile(old.id, { quiet: true });
    clearError(`file:${name}`);
    const entry = { id, name, size, lastModified, members, index };
    state.files.push(entry);
    opened.push(entry);
  }
  renderFiles();
  // The embedded example opens while the person may already have opened and chosen a tensor of their
  // own (a file dropped during start-up): their choice stays.
  if (unlessChosen && state.selected) return;
  // A tensor named in the URL wins when its file is among these.
  const wanted = state.wanted && opened.find((f) => f.name === state.wanted.file && defaultTensor(f.index, state.wanted.tensor) === state.wanted.tensor);
  if (wanted) {
    const tensor = state.wanted.tensor;
    state.wanted = null;
    select(wanted.id, tensor);
    return;
  }
  const target = opened.find((f) => defaultTensor(f.index, preferredTensor));
  if (target) {
    select(target.id, defaultTensor(target.index, preferredTensor));
  } else if (opened.length) {
    setStatus(`${opened.map((f) => f.name).join(', ')}: no float tensor to quantize (only F64, F32, F16 and BF16 are).`);
  } else {
    setStatus(state.files.length ? 'The files opened before are still here.' : 'Open a weight file: .safetensors, .npy, .npz, .gguf, .pt/.pth/.bin or .onnx.');
  }
}

function closeFile(id, { quiet = false } = {}) {
  engine.close(id);
  state.files = state.files.filter((f) => f.id !== id);
  for (const key of [...state.ticked]) if (key.startsWith(`${id}:`)) state.ticked.delete(key);
  for (const key of errors.keys()) if (key.startsWith(`compute:${id}:`)) errors.delete(key);
  renderErrors();
  if (state.selected?.fileId === id) {
    state.selected = null;
    state.rows = null;
    ui.comparison.replaceChildren(Object.assign(document.createElement('caption'), { textContent: 'Choose a tensor.' }));
    ui.comparison.dataset.state = 'empty';
    delete ui.comparison.dataset.file;
    delete ui.comparison.dataset.tensor;
    ui.notes.replaceChildren();
    clearPictures();
    clearCalibration();
  }
  speed.describeTarget();
  outputs.describeTarget();
  if (!quiet) renderFiles();
  model.fileClosed(id);
  updateModelButton();
  updateUrl();
}

function renderFiles() {
  renderHead(ui.tensors, state.sort, (sort, clicked) => {
    state.sort = sort;
    renderFiles();
    ui.tensors.querySelector(`button[data-sort="${clicked}"]`)?.focus(); // the header was rebuilt
  });
  renderTensorList(ui.tensors, state.files, state.selected, {
    sort: state.sort,
    filter: state.filter,
    ticked: state.ticked,
    onSelect: select,
    onTick: (fileId, tensor, on) => {
      const key = `${fileId}:${tensor}`;
      if (on) state.ticked.add(key);
      else state.ticked.delete(key);
      renderFiles();
      ui.tensors.querySelector(`tr[data-tensor="${CSS.escape(tensor)}"] input.tick`)?.focus();
      updateModelButton();
    },
    onClose: (id) => closeFile(id),
  });
  updateModelButton();
  outputs.describeTarget(); // its x choices list the open tensors
}

function select(fileId, tensor) {
  state.selected = { fileId, tensor };
  const radio = [...ui.tensors.querySelectorAll('input[name="tensor"]')].find((r) => r.value === `${fileId}:${tensor}`);
  if (radio) radio.checked = true;
  updateModelButton();
  speed.describeTarget();
  outputs.describeTarget();
  compute();
}

ui.filter.addEventListener('input', () => {
  state.filter = ui.filter.value;
  renderFiles();
});

// ---- settings ---------------------------------------------------------------------------------------

/** The configuration of the form as a spec, or null (with the problem shown) when a field is invalid. */
function readSpec() {
  const form = ui.settings.elements;
  const granularity = form.granularity.value;
  const groupField = form.groupSize;
  groupField.disabled = granularity !== 'group';
  form.range.disabled = form.scheme.value !== 'symmetric';

  let granularityLabel = granularity === 'channel' ? 'channel:0' : 'tensor';
  if (granularity === 'group') {
    const size = Number(groupField.value);
    if (!Number.isInteger(size) || size < 1) {
      groupField.setAttribute('aria-invalid', 'true');
      setError('settings', `Group size: "${groupField.value}" is not a whole number of at least 1.`);
      return null;
    }
    granularityLabel = `group:${size}`;
  }
  groupField.removeAttribute('aria-invalid');
  clearError('settings');
  return {
    bits: Number(form.bits.value),
    scheme: form.scheme.value,
    full_range: form.scheme.value === 'symmetric' && form.range.value === 'full',
    granularity: granularityLabel,
    scale_dtype: form.scaleDtype.value,
  };
}

/** The integer columns: INT8 and INT4 with the form's scheme and granularity, its own width, then the added ones. */
function columnSpecs(spec) {
  const widths = HEADLINE_BITS.includes(spec.bits) ? HEADLINE_BITS : [...HEADLINE_BITS, spec.bits];
  const specs = widths.map((bits) => ({ ...spec, bits }));
  const labels = new Set(specs.map(specLabel));
  for (const a of state.added) {
    if (!labels.has(specLabel(a))) specs.push(a);
    labels.add(specLabel(a));
  }
  return specs;
}

function applyForm(values) {
  const form = ui.settings.elements;
  if (values.bits) form.bits.value = String(values.bits);
  if (values.scheme) form.scheme.value = values.scheme;
  if (values.range) form.range.value = values.range;
  if (values.granularity) form.granularity.value = values.granularity;
  if (values.groupSize) form.groupSize.value = String(values.groupSize);
  if (values.scaleDtype) form.scaleDtype.value = values.scaleDtype;
  if (values.calibration && [...ui.calibration.options].some((o) => o.value === values.calibration)) ui.calibration.value = values.calibration;
}

function settingsChanged() {
  state.errorConfig = null; // the error picture follows the configuration again
  const spec = readSpec();
  if (spec) ui.configLabel.textContent = specLabel(spec);
  updateModelButton();
  updateUrl();
  compute();
}

ui.settings.addEventListener('input', settingsChanged);
ui.settings.addEventListener('submit', (event) => event.preventDefault());
for (const button of ui.settings.querySelectorAll('[data-preset]')) {
  button.addEventListener('click', () => {
    applyForm(PRESETS[button.dataset.preset]);
    settingsChanged();
  });
}

ui.addColumn.addEventListener('click', () => {
  const spec = readSpec();
  if (!spec) return;
  if (!state.added.some((a) => specLabel(a) === specLabel(spec))) state.added.push(spec);
  updateUrl();
  compute();
});

function removeColumn(config) {
  state.added = state.added.filter((a) => specLabel(a) !== config);
  updateUrl();
  compute();
}

/** The calibration select lists exactly the methods the core reports (today min-max only). */
const METHOD_NAMES = { minmax: 'min-max', 'percentile:99.99': 'percentile 99.99', mse: 'MSE', entropy: 'entropy (KL, ORT)', 'entropy:trt': 'entropy (KL, TensorRT)' };
export const methodName = (m) => METHOD_NAMES[m] ?? m;
function fillCalibration(methods) {
  ui.calibration.replaceChildren(...methods.map((m) => Object.assign(document.createElement('option'), { value: m, textContent: methodName(m) })));
  ui.calibration.disabled = methods.length < 2;
}

function updateUrl() {
  const spec = readSpec();
  const file = state.files.find((f) => f.id === state.selected?.fileId);
  const query = writeQuery({
    spec,
    calibration: ui.calibration.value,
    added: state.added,
    file: file?.name ?? state.wanted?.file,
    tensor: state.selected?.tensor ?? state.wanted?.tensor,
    error: state.errorConfig, // set only when the person chose a column
    log: ui.valuesLog.checked,
  });
  if (query !== location.search) history.replaceState(null, '', `${location.pathname}${query}${location.hash}`);
}

// ---- computing --------------------------------------------------------------------------------------

let running = false;
let pending = false;

/** One computation at a time; changes made meanwhile coalesce into one more run with the latest state. */
async function compute() {
  if (running) {
    pending = true;
    return;
  }
  running = true;
  try {
    do {
      pending = false;
      await computeOnce();
    } while (pending);
  } finally {
    running = false;
  }
}

async function computeOnce() {
  const selected = state.selected;
  const spec = readSpec();
  if (!selected || !spec) return;
  const file = state.files.find((f) => f.id === selected.fileId);
  if (!file) return;
  updateUrl();
  const computeKey = `compute:${file.id}:${selected.tensor}`; // kept until dismissed or this tensor works
  setStatus(`Computing ${selected.tensor}…`);
  ui.comparison.setAttribute('aria-busy', 'true');
  // The calibration panel fades from now when it will change, not only while its own call runs.
  const calibrationSection = document.querySelector('.calibration');
  if (state.calibrated?.key !== calibrationKey(selected, spec)) calibrationSection.setAttribute('aria-busy', 'true');
  try {
    await compareAndDraw(file, selected, spec, computeKey);
  } finally {
    calibrationSection.removeAttribute('aria-busy');
  }
  await showMemory(`${file.name}:${selected.tensor}`);
}

/**
 * The module's memory in the footer, after each tensor's table, pictures and sweep: wasm memory grows and
 * never shrinks, so this is the most any work so far has needed (a big file must not raise it by more
 * than about 3× the chosen tensor's f32 size). data-after names the tensor it was read after.
 */
async function showMemory(after) {
  try {
    const bytes = await engine.memoryBytes();
    ui.memory.textContent = fmt.bytes(bytes);
    ui.memory.dataset.bytes = String(bytes);
    ui.memory.dataset.after = after;
  } catch (error) {
    ui.memory.textContent = `unknown (${error?.message ?? error})`; // a readout only: the page goes on
  }
}

async function compareAndDraw(file, selected, spec, computeKey) {
  let rows;
  try {
    const started = performance.now();
    rows = await engine.compare(selected.fileId, selected.tensor, columnSpecs(spec), ui.calibration.value);
    if (state.selected !== selected) return; // another tensor was chosen meanwhile; the next run shows it
    const removable = new Set(state.added.map(specLabel));
    renderComparison(ui.comparison, rows, file.name, { removable, onRemove: removeColumn });
    state.rows = rows;
    ui.comparison.dataset.state = 'ready';
    ui.notes.replaceChildren(...notesFor(rows).map((text) => Object.assign(document.createElement('li'), { textContent: text })));
    clearError(computeKey);
    setStatus(`${selected.tensor}: ${rows.length} formats compared in ${Math.round(performance.now() - started)} ms.`);
  } catch (error) {
    setError(computeKey, describe(file.name, error));
    setStatus(`${selected.tensor} could not be compared; the table shows the last result.`);
    return;
  } finally {
    ui.comparison.removeAttribute('aria-busy');
  }
  await drawPictures(file, selected, spec, rows, computeKey);
}

// ---- pictures ---------------------------------------------------------------------------------------

function clearPictures() {
  for (const c of [ui.valuesChart, ui.errorsChart, ui.scalesChart, ui.paretoChart]) charts.clear(c);
  for (const p of [ui.valuesLegend, ui.errorsLegend, ui.scalesLegend, ui.paretoLegend]) p.textContent = '';
  ui.picturesOf.textContent = '';
  state.explored = null;
  state.sweep = null;
  document.querySelector('.pictures').dataset.state = 'empty';
}

async function drawPictures(file, selected, spec, rows, computeKey) {
  const intConfigs = rows.filter((r) => r.config.startsWith('int')).map((r) => r.config);
  // The column the person chose, while it is shown; else the configuration of the form.
  const errorLabel = intConfigs.includes(state.errorConfig) ? state.errorConfig : specLabel(spec);
  ui.errorConfig.replaceChildren(...intConfigs.map((c) => Object.assign(document.createElement('option'), { value: c, textContent: c, selected: c === errorLabel })));
  const pictures = document.querySelector('.pictures');
  pictures.setAttribute('aria-busy', 'true');
  try {
    const explored = await engine.explore(selected.fileId, selected.tensor, { spec, errorSpec: parseLabel(errorLabel), method: ui.calibration.value, bins: BINS });
    if (state.selected !== selected) return;
    state.explored = { ...explored, method: ui.calibration.value, errorLabel, tensor: selected.tensor, file: file.name, rows };
    ui.picturesOf.textContent = `— ${selected.tensor}`;
    renderValues();
    renderErrorsChart();
    renderScales();
    pictures.dataset.tensor = selected.tensor;
    pictures.dataset.state = 'ready';
  } catch (error) {
    setError(computeKey, describe(file.name, error));
    return;
  } finally {
    pictures.removeAttribute('aria-busy');
  }
  await drawCalibration(file, selected, spec);
  await drawPareto(file, selected);
}

// ---- calibration methods ----------------------------------------------------------------------------

function clearCalibration() {
  charts.clear(ui.klChart);
  charts.clear(ui.mseChart);
  ui.klLegend.textContent = '';
  ui.mseLegend.textContent = '';
  ui.calibrationOf.textContent = '';
  ui.calibrationTable.replaceChildren(Object.assign(document.createElement('caption'), { textContent: 'Choose a tensor.' }));
  ui.calibrationTable.dataset.state = 'empty';
  state.calibrated = null;
}

/** The calibration panel at the form's bits and scheme; computed again only when one of them or the tensor changes. */
const calibrationKey = (selected, spec) => `${selected.fileId}:${selected.tensor}:${spec.bits}:${spec.scheme}`;

async function drawCalibration(file, selected, spec) {
  const key = calibrationKey(selected, spec);
  if (state.calibrated?.key === key) {
    renderCalibrationTable(); // the form's method may have changed: the "in use" tag follows it
    return;
  }
  const section = document.querySelector('.calibration');
  section.setAttribute('aria-busy', 'true');
  try {
    const report = await engine.calibrate(selected.fileId, selected.tensor, spec.bits, spec.scheme);
    if (state.selected !== selected) return;
    state.calibrated = { key, report, tensor: selected.tensor };
    renderCalibration();
  } catch (error) {
    setError(`compute:${file.id}:${selected.tensor}`, describe(file.name, error));
  } finally {
    section.removeAttribute('aria-busy');
  }
}

function renderCalibration() {
  const c = state.calibrated;
  if (!c) return;
  ui.calibrationOf.textContent = `— ${c.tensor}`;
  renderCalibrationTable();
  calibration.renderCurves(ui, c.report, { methodName });
  ui.calibrationTable.dataset.state = 'ready';
}

function renderCalibrationTable() {
  const c = state.calibrated;
  if (c) calibration.renderTable(ui.calibrationTable, c.report, { tensor: c.tensor, methodName, chosen: ui.calibration.value });
}

function renderValues() {
  const e = state.explored;
  if (!e) return;
  const colors = getComputedStyle(document.documentElement);
  const markColor = colors.getPropertyValue('--mark').trim();
  const gridColor = colors.getPropertyValue('--mark-grid').trim();
  // The chosen method's range solid and labelled (its grid dashed); the other methods' ranges as thin ticks.
  const chosen = e.ranges.find((r) => r.method === e.method) ?? e.ranges[0];
  const others = colors.getPropertyValue('--muted').trim();
  const marks = [];
  for (const r of e.ranges.filter((r) => r !== chosen)) {
    marks.push({ value: r.lo, color: others, dash: [2, 3] }, { value: r.hi, color: others, dash: [2, 3] });
  }
  const r = chosen;
  marks.push({ value: r.lo, color: markColor, label: `${fmt.scientific(r.lo)}` });
  marks.push({ value: r.hi, color: markColor, label: `${fmt.scientific(r.hi)}` });
  if (r.grid_lo !== r.lo) marks.push({ value: r.grid_lo, color: gridColor, dash: [5, 4] });
  if (r.grid_hi !== r.hi) marks.push({ value: r.grid_hi, color: gridColor, dash: [5, 4] });
  charts.histogram(ui.valuesChart, e.values, { log: ui.valuesLog.checked, marks });
  const spec = e.slots.config;
  const grid = r.grid_lo !== r.lo || r.grid_hi !== r.hi
    ? ` Dashed: what a per-tensor ${spec.split(' ').slice(0, 2).join(' ')} grid covers, [${fmt.scientific(r.grid_lo)}, ${fmt.scientific(r.grid_hi)}].`
    : '';
  const otherRanges = e.ranges.filter((o) => o !== chosen).map((o) => `${methodName(o.method)} [${fmt.scientific(o.lo)}, ${fmt.scientific(o.hi)}]`);
  const nonfinite = e.values.nonfinite ? ` ${fmt.count(e.values.nonfinite)} non-finite values left out.` : '';
  ui.valuesLegend.textContent = `${fmt.count(e.values.finite)} values in ${e.values.counts.length} bins. Red: the ${methodName(chosen.method)} range of the whole tensor.${grid}${otherRanges.length ? ` Dotted: ${otherRanges.join(', ')}.` : ''}${nonfinite}`;
  ui.valuesChart.dataset.ranges = JSON.stringify(e.ranges.map((o) => [o.method, o.lo, o.hi]));
  ui.valuesChart.dataset.lo = String(e.values.lo);
  ui.valuesChart.dataset.hi = String(e.values.hi);
}

function renderErrorsChart() {
  const e = state.explored;
  if (!e) return;
  const color = getComputedStyle(document.documentElement).getPropertyValue('--c2').trim();
  charts.histogram(ui.errorsChart, e.errors, { log: ui.valuesLog.checked, xLabel: 'x − x̂', color });
  const row = e.rows.find((r) => r.config === e.errorLabel);
  const rowText = row ? ` SQNR ${fmt.fixed(2)(fmt.numeric(row.sqnr_db))} dB, max |error| ${fmt.scientific(fmt.numeric(row.max_abs_err))}.` : '';
  ui.errorsLegend.textContent = `${e.errorLabel}: errors from ${fmt.scientific(e.errors.lo)} to ${fmt.scientific(e.errors.hi)}.${rowText}`;
  ui.errorsChart.dataset.config = e.errorLabel;
}

function renderScales() {
  const e = state.explored;
  if (!e) return;
  const s = e.slots;
  ui.scalesConfig.textContent = s.calibration === 'minmax' ? s.config : `${s.config} · ${s.calibration}`;
  ui.scalesChart.dataset.slots = String(s.slots);
  if (s.slots === 1) {
    charts.clear(ui.scalesChart);
    ui.scalesLegend.textContent = `One scale for the whole tensor: ${fmt.scientific(s.scales[0])}, zero point ${s.zero_points[0]}. Choose per channel or per group to see how scales vary.`;
    return;
  }
  charts.scales(ui.scalesChart, s);
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of s.scales) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const spread = lo > 0 ? ` — the widest is ${Number((hi / lo).toPrecision(3))}× the narrowest` : '';
  ui.scalesLegend.textContent = `${fmt.count(s.slots)} scales from ${fmt.scientific(lo)} to ${fmt.scientific(hi)}${spread}. One per-tensor scale would have to be the largest.`;
}

let sweepToken = 0;

async function drawPareto(file, selected) {
  const key = `${selected.fileId}:${selected.tensor}`;
  if (state.sweep?.key === key) {
    renderPareto();
    return;
  }
  const token = ++sweepToken;
  ui.paretoProgress.hidden = false;
  ui.paretoProgress.value = 0;
  ui.paretoLegend.textContent = 'Sweeping bit widths, granularities and schemes…';
  try {
    const rows = await engine.sweep(selected.fileId, selected.tensor, token, Comlink.proxy((done, total) => {
      if (token === sweepToken) ui.paretoProgress.value = done / total;
    }));
    if (!rows || token !== sweepToken || state.selected !== selected) return;
    state.sweep = { key, rows };
    renderPareto();
  } catch (error) {
    setError(`compute:${file.id}:${selected.tensor}`, describe(file.name, error));
  } finally {
    if (token === sweepToken) ui.paretoProgress.hidden = true;
  }
}

function renderPareto() {
  const rows = state.sweep?.rows;
  if (!rows) return;
  const highlight = new Set((state.rows ?? []).map((r) => r.config));
  charts.pareto(ui.paretoChart, rows, { highlight });
  const front = rows.filter((r) => r.pareto).sort((a, b) => a.bits_per_weight - b.bits_per_weight);
  ui.paretoChart.dataset.front = front.map((r) => r.config).join('|');
  const cheapest = (bits) => front.find((r) => r.bits === bits);
  const examples = [3, 4, 8].map(cheapest).filter(Boolean).map((r) => `${r.config} (${Number(r.bits_per_weight.toFixed(2))} b/w, ${fmt.fixed(1)(fmt.numeric(r.sqnr_db))} dB)`);
  ui.paretoLegend.textContent = `${rows.length} configurations with min-max ranges: bits 2–8 × granularity × scheme (filled symmetric, hollow asymmetric; ringed: the table's columns). ${front.length} are on the front, e.g. ${examples.join(', ')}.`;
}

ui.valuesLog.addEventListener('change', () => {
  renderValues();
  renderErrorsChart();
  updateUrl();
});

ui.errorConfig.addEventListener('change', () => {
  state.errorConfig = ui.errorConfig.value;
  updateUrl();
  compute();
});

charts.onThemeChange(() => {
  renderValues();
  renderErrorsChart();
  renderScales();
  renderPareto();
  renderCalibration();
});

// ---- whole model ------------------------------------------------------------------------------------

function modelTarget() {
  const file = state.files.find((f) => f.id === state.selected?.fileId) ?? state.files.find((f) => f.index.tensors.some(isQuantizable));
  if (!file) return null;
  const names = file.index.tensors.filter((t) => state.ticked.has(`${file.id}:${t.name}`)).map((t) => t.name);
  return { file, names, count: names.length || file.index.tensors.filter(isQuantizable).length };
}

function updateModelButton() {
  const spec = readSpec();
  const method = ui.calibration.value;
  model.describeTarget(modelTarget(), spec && `${specLabel(spec)}${method === 'minmax' ? '' : `, ${method} ranges`}`);
  exporter.describe();
}

model.setup({
  engine,
  target: modelTarget,
  spec: readSpec,
  method: () => ui.calibration.value,
  onError: (key, message) => setError(key, message),
  clearError,
});

exporter.setup({
  engine,
  current: () => {
    const file = state.files.find((f) => f.id === state.selected?.fileId) ?? modelTarget()?.file;
    return file ? { file, tensor: file.id === state.selected?.fileId ? state.selected.tensor : null } : null;
  },
  spec: readSpec,
  specLabel,
  method: () => ui.calibration.value,
  onError: (key, message) => setError(key, message),
  clearError,
});

digits.setup({ engine, onError: (key, message) => setError(key, message) });

speed.setup({
  engine,
  target: () => {
    const file = state.files.find((f) => f.id === state.selected?.fileId);
    const info = file?.index.tensors.find((t) => t.name === state.selected.tensor);
    return info ? { fileId: file.id, file: file.name, tensor: info.name, shape: info.shape } : null;
  },
  onError: (key, message) => setError(key, message),
  clearError,
});

// The Outputs view: the same chosen tensor as the speed panel; x from a synthetic set or any open tensor.
outputs.setup({
  engine,
  target: () => {
    const file = state.files.find((f) => f.id === state.selected?.fileId);
    const info = file?.index.tensors.find((t) => t.name === state.selected.tensor);
    return info ? { fileId: file.id, file: file.name, tensor: info.name, shape: info.shape } : null;
  },
  files: () => state.files,
  methodName,
  onError: (key, message) => setError(key, message),
  clearError,
});

// ---- opening files: the input and drag-and-drop over the whole page -----------------------------------

ui.fileInput.addEventListener('change', () => {
  const files = [...ui.fileInput.files];
  ui.fileInput.value = ''; // so that choosing the same file again is a change too
  if (files.length) openFiles(files);
});

const carriesFiles = (event) => event.dataTransfer?.types?.includes('Files');
let dragDepth = 0;
window.addEventListener('dragenter', (event) => {
  if (!carriesFiles(event)) return;
  dragDepth += 1;
  ui.overlay.hidden = false;
});
window.addEventListener('dragleave', (event) => {
  if (!carriesFiles(event)) return;
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) ui.overlay.hidden = true;
});
window.addEventListener('dragover', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = 'copy';
});
window.addEventListener('drop', (event) => {
  event.preventDefault(); // never let the browser navigate to the dropped file
  dragDepth = 0;
  ui.overlay.hidden = true;
  const files = [...(event.dataTransfer?.files ?? [])];
  if (files.length) openFiles(files);
});

// "/" jumps to the tensor filter, as on many sites; Escape leaves it.
window.addEventListener('keydown', (event) => {
  const typing = event.target.closest?.('input, select, textarea');
  if (event.key === '/' && !typing && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    ui.filter.focus();
  } else if (event.key === 'Escape' && event.target === ui.filter) {
    ui.filter.value = '';
    ui.filter.dispatchEvent(new Event('input'));
    ui.filter.blur();
  }
});

// ---- start: the module, then the synthetic example through the same path as a dropped file ------------

async function startup() {
  applyForm(fromUrl.form);
  ui.valuesLog.checked = fromUrl.view.log;
  const spec = readSpec();
  if (spec) ui.configLabel.textContent = specLabel(spec);
  renderFiles();
  try {
    const { kernel } = await engine.init();
    ui.kernel.textContent = kernel;
    ui.kernel.dataset.kernel = kernel;
    const example = digits.start(); // first in the worker's queue: the accuracy table is what the page opens on
    // Asked of the worker once, shared by the panels that list them.
    const [methods, distributions] = [await engine.calibrationMethods(), await engine.syntheticDistributions()];
    fillCalibration(methods);
    speed.setSeed(await engine.randomSeed());
    activations.start(distributions, await engine.randomSeed(), {
      engine,
      openFiles,
      spec: readSpec,
      methodName,
      onError: (key, message) => setError(key, message),
      clearError,
    });
    applyForm({ calibration: fromUrl.form.calibration });
    outputs.start({ distributions, methods, seed: await engine.randomSeed() });
    // The synthetic file is chosen (its outlier channels show what per-channel scales do); the digits
    // model's own weights are listed beside it.
    const [bytes, digitsBytes] = await Promise.all([engine.exampleFile(EXAMPLE_SEED), engine.digitsFile()]);
    await openFiles(
      [new File([bytes], `example-seed-${EXAMPLE_SEED}.safetensors`), new File([digitsBytes], 'digits-mlp.safetensors')],
      EXAMPLE_TENSOR,
      { unlessChosen: true },
    );
    await example;
  } catch (error) {
    setError('startup', `The wasm module could not start: ${error?.message ?? error}`);
    setStatus('Not ready.');
  }
}

startup();
