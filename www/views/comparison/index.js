// The tensor view: the settings form (the configuration every view uses), the comparison of the chosen
// tensor in every default format and each added one (FP32 | FP16 | BF16 | INT8 | INT4 | …), and its
// pictures: values with the calibration ranges, the error of one column, the scales, and the sweep of
// specs behind the bits-per-weight vs SQNR picture. One computation at a time; changes made meanwhile
// coalesce into one more run with the latest state.
import { isCancelled } from '../../app/bridge.js';
import * as charts from '../../shared/charts.js';
import { formOf, specOf } from '../../shared/config.js';
import { $, element, latestOnly } from '../../shared/dom.js';
import { clearPictures, renderErrors, renderPareto, renderScales, renderValues } from './pictures.js';
import { notesFor, renderComparison } from './table.js';
import template from './template.html?raw';
import './style.css';

const BINS = 256;

let ui;
let ctx;
let wanted = null; // { selection, settings } of the last update
let requested = null; // the key of the last computation asked for
let rows = null; // the comparison shown
let explored = null; // the pictures' numbers shown
let sweep = null; // { key, rows } of the Pareto picture, or { key, cancelled: true }
let sweeping = null; // { key, controller } of the sweep in flight
let comparing = null; // { selection, controller } of the comparison in flight (a big tensor streams: progress, Cancel)
let picturing = null; // { selection, controller } of the pictures in flight (streamed as the comparison is)

const sameTensor = (a, b) => a && b && a.file.id === b.file.id && a.tensor === b.tensor;
const tensorKey = (selection) => `${selection.file.id}:${selection.tensor}`;

function mount(root, context) {
  ctx = context;
  const ids = ['settings', 'calibration', 'add-column', 'config-label', 'format-chooser', 'format-choice', 'comparison', 'notes', 'pictures-of', 'values-chart', 'values-log',
    'values-legend', 'error-config', 'errors-chart', 'errors-legend', 'scales-chart', 'scales-config', 'scales-legend', 'pareto-chart',
    'pareto-progress', 'pareto-cancel', 'pareto-legend', 'compare-progress', 'compare-cancel', 'pictures-progress', 'pictures-cancel'];
  ui = Object.fromEntries(ids.map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), $(id)]));
  ui.pictures = root.querySelector('.pictures');
  const form = ui.settings.elements;
  form.bits.replaceChildren(...ctx.formats.bits.map((b) => element('option', { value: String(b), text: String(b) })));
  ui.calibration.replaceChildren(...ctx.catalog.methods.map((m) => element('option', { value: m, text: ctx.methodName(m) })));
  ui.calibration.disabled = ctx.catalog.methods.length < 2;
  const presets = ui.settings.querySelector('.presets');
  for (const preset of ctx.formats.presets) {
    const button = element('button', { type: 'button', dataset: { preset: preset.name }, title: preset.label, text: `${preset.title} preset` });
    button.addEventListener('click', () => {
      applyForm(formOf(preset.spec));
      settingsChanged();
    });
    presets.append(button);
  }

  ui.formatChoice.replaceChildren(...formatGroups(ctx.formats.list));

  const { spec, method, log } = ctx.state.settings;
  if (spec) applyForm(formOf(spec));
  if ([...ui.calibration.options].some((o) => o.value === method)) ui.calibration.value = method;
  ui.valuesLog.checked = log;
  ui.configLabel.textContent = ctx.state.settings.label ?? '';
  readSpec(); // the form's disabled fields follow the values

  ui.settings.addEventListener('input', () => settingsChanged());
  ui.settings.addEventListener('submit', (event) => event.preventDefault());
  ui.addColumn.addEventListener('click', () => {
    const { spec: current, label, added } = ctx.state.settings;
    if (current && !added.some((a) => a.label === label)) ctx.state.setSettings({ added: [...added, { label, spec: current }] });
  });
  ui.formatChooser.addEventListener('submit', (event) => {
    event.preventDefault();
    const label = ui.formatChoice.value;
    const { added } = ctx.state.settings;
    if (label && !added.some((a) => a.label === label)) ctx.state.setSettings({ added: [...added, { label, spec: null }] });
  });
  ui.valuesLog.addEventListener('change', () => ctx.state.setSettings({ log: ui.valuesLog.checked }));
  ui.errorConfig.addEventListener('change', () => ctx.state.setSettings({ errorConfig: ui.errorConfig.value }));
  ui.paretoCancel.addEventListener('click', () => sweeping?.controller.abort());
  ui.compareCancel.addEventListener('click', () => comparing?.controller.abort());
  ui.picturesCancel.addEventListener('click', () => picturing?.controller.abort());
  charts.onThemeChange(() => {
    drawPictures();
    if (sweep?.rows) renderPareto(ui, sweep.rows, { highlight: new Set((rows ?? []).map((r) => r.config)) });
  });
}

/** What the chooser heads each family with; a family the core adds later shows under its own name. */
const FAMILY_HEADINGS = { block: 'FP8, MX, NVFP4, NF4 (shared scales)', ggml: 'ggml block types', int: 'integer', float: 'float' };

/** An optgroup per family of the served formats that are no default column, in the core's order. */
function formatGroups(list) {
  const groups = new Map();
  for (const f of list.filter((f) => !f.default_column)) {
    if (!groups.has(f.family)) groups.set(f.family, element('optgroup', { label: FAMILY_HEADINGS[f.family] ?? f.family }));
    const bits = Number(f.bits_per_weight.toFixed(4));
    groups.get(f.family).append(element('option', { value: f.label, title: `${f.label}: ${f.note}`, text: `${f.title} (${bits} b/w)` }));
  }
  return [...groups.values()];
}

/** The form's values as a spec, or null (with the problem shown) when a field is invalid. */
function readSpec() {
  const form = ui.settings.elements;
  form.groupSize.disabled = form.granularity.value !== 'group';
  form.range.disabled = form.scheme.value !== 'symmetric';
  const { spec, error } = specOf({
    bits: form.bits.value,
    scheme: form.scheme.value,
    range: form.range.value,
    granularity: form.granularity.value,
    groupSize: form.groupSize.value,
    scaleDtype: form.scaleDtype.value,
  });
  if (error) {
    form.groupSize.setAttribute('aria-invalid', 'true');
    ctx.setError('settings', error);
    return null;
  }
  form.groupSize.removeAttribute('aria-invalid');
  ctx.clearError('settings');
  return spec;
}

function applyForm(values) {
  const form = ui.settings.elements;
  form.bits.value = String(values.bits);
  form.scheme.value = values.scheme;
  form.range.value = values.range;
  form.granularity.value = values.granularity;
  form.groupSize.value = String(values.groupSize);
  form.scaleDtype.value = values.scaleDtype;
}

function settingsChanged() {
  const spec = readSpec();
  const method = ui.calibration.value;
  const label = spec ? ctx.formats.label(spec) : null;
  if (label) ui.configLabel.textContent = label;
  // The error picture follows the configuration again.
  ctx.state.setSettings({ spec, label, method, errorConfig: null });
}

function update(selection, settings) {
  wanted = { selection, settings };
  if (sweeping && !sameTensor(sweeping.selection, selection)) sweeping.controller.abort(); // a new tensor does not wait for the old sweep
  if (comparing && !sameTensor(comparing.selection, selection)) comparing.controller.abort(); // nor for the old comparison
  if (picturing && !sameTensor(picturing.selection, selection)) picturing.controller.abort(); // nor for the old pictures
  if (!selection) {
    if (requested) clearAll();
    return null;
  }
  const key = JSON.stringify([tensorKey(selection), settings.spec, settings.method, settings.added.map((a) => a.label), settings.errorConfig]);
  if (key === requested) {
    if (explored && explored.log !== settings.log) drawPictures();
    return null;
  }
  requested = key;
  return compute();
}

function clearAll() {
  requested = null;
  rows = null;
  explored = null;
  sweep = null;
  ui.comparison.replaceChildren(element('caption', { text: 'Choose a tensor.' }));
  ui.comparison.dataset.state = 'empty';
  delete ui.comparison.dataset.file;
  delete ui.comparison.dataset.tensor;
  ui.notes.replaceChildren();
  clearPictures(ui);
}

/**
 * The integer columns (the default widths with the form's scheme and granularity, its own width, then
 * the added integer specs), then the added formats that are no integer spec (FP8, MX, NVFP4, NF4, ggml).
 */
function columnSpecs(spec, added) {
  const headline = ctx.formats.headlineBits;
  const widths = headline.includes(spec.bits) ? headline : [...headline, spec.bits];
  const columns = widths.map((bits) => ({ spec: { ...spec, bits }, label: ctx.formats.label({ ...spec, bits }) }));
  for (const a of added) if (a.spec && !columns.some((c) => c.label === a.label)) columns.push(a);
  for (const a of added) if (!a.spec) columns.push(a);
  return columns;
}

const compute = latestOnly(async () => {
  const { selection, settings } = wanted;
  if (!selection || !settings.spec) return;
  const { file, tensor } = selection;
  const computeKey = `compute:${file.id}:${tensor}`; // kept until dismissed or this tensor works
  ctx.setStatus(`Computing ${tensor}…`);
  ui.comparison.setAttribute('aria-busy', 'true');
  let columns;
  try {
    const started = performance.now();
    columns = columnSpecs(settings.spec, settings.added);
    const specs = columns.filter((c) => c.spec).map((c) => c.spec);
    const labels = columns.filter((c) => !c.spec).map((c) => c.label);
    comparing = { selection, controller: new AbortController() };
    const answered = await ctx.run('compare', [file.id, tensor, ctx.formats.floats, specs, settings.method, labels], {
      signal: comparing.controller.signal,
      onProgress: (done, total) => {
        ui.compareProgress.hidden = false;
        ui.compareCancel.hidden = false;
        ui.compareProgress.value = done / total;
      },
    });
    if (!sameTensor(wanted.selection, selection)) return; // another tensor was chosen meanwhile; the next run shows it
    const misfits = answered.filter((r) => r.error);
    const shown = answered.filter((r) => !r.error);
    const removable = new Set(settings.added.map((a) => a.label));
    renderComparison(ui.comparison, shown, file.name, {
      titleOf: ctx.formats.title,
      reference: ctx.formats.floats[0],
      removable,
      onRemove: (label) => ctx.state.setSettings({ added: ctx.state.settings.added.filter((a) => a.label !== label) }),
    });
    rows = shown;
    ui.comparison.dataset.state = 'ready';
    const notes = [...notesFor(rows), ...misfits.map((r) => `${r.config} is not shown: ${r.error}`)];
    ui.notes.replaceChildren(...notes.map((text) => element('li', { text })));
    ctx.clearError(computeKey);
    ctx.setStatus(`${tensor}: ${rows.length} formats compared in ${Math.round(performance.now() - started)} ms.`);
  } catch (error) {
    if (isCancelled(error)) {
      requested = null; // the same settings compare again when asked
      ctx.setStatus(`The comparison of ${tensor} was cancelled; the table shows the last result.`);
      return;
    }
    ctx.setError(computeKey, ctx.describe(file.name, error));
    ctx.setStatus(`${tensor} could not be compared; the table shows the last result.`);
    return;
  } finally {
    comparing = null;
    ui.compareProgress.hidden = true;
    ui.compareCancel.hidden = true;
    ui.comparison.removeAttribute('aria-busy');
  }
  if (await explore(selection, settings, columns, computeKey)) await drawSweep(selection);
});

/** The pictures: values, the error of the chosen column (else the form's), the scales. True when drawn. */
async function explore(selection, settings, columns, computeKey) {
  // The error and scale pictures take an integer spec: the columns that have one.
  const specColumns = columns.filter((c) => c.spec);
  const intLabels = specColumns.map((c) => c.label);
  const errorLabel = intLabels.includes(settings.errorConfig) ? settings.errorConfig : settings.label;
  const errorSpec = specColumns[intLabels.indexOf(errorLabel)]?.spec ?? settings.spec;
  ui.errorConfig.replaceChildren(...intLabels.map((c) => Object.assign(element('option', { value: c, text: c }), { selected: c === errorLabel })));
  ui.pictures.setAttribute('aria-busy', 'true');
  picturing = { selection, controller: new AbortController() };
  try {
    const numbers = await ctx.run('explore', [selection.file.id, selection.tensor, { spec: settings.spec, errorSpec, method: settings.method, bins: BINS }], {
      signal: picturing.controller.signal,
      onProgress: (done, total) => {
        ui.picturesProgress.hidden = false;
        ui.picturesCancel.hidden = false;
        ui.picturesProgress.value = done / total;
      },
    });
    if (!sameTensor(wanted.selection, selection)) return false;
    explored = { ...numbers, spec: settings.spec, method: settings.method, errorLabel, rows };
    ui.picturesOf.textContent = `— ${selection.tensor}`;
    drawPictures();
    ui.pictures.dataset.tensor = selection.tensor;
    ui.pictures.dataset.state = 'ready';
    return true;
  } catch (error) {
    if (isCancelled(error)) {
      requested = null; // the same settings draw again when asked
      ctx.setStatus(`The pictures of ${selection.tensor} were cancelled; they show the last result.`);
      return false;
    }
    ctx.setError(computeKey, ctx.describe(selection.file.name, error));
    return false;
  } finally {
    picturing = null;
    ui.picturesProgress.hidden = true;
    ui.picturesCancel.hidden = true;
    ui.pictures.removeAttribute('aria-busy');
  }
}

function drawPictures() {
  if (!explored) return;
  const log = ctx.state.settings.log;
  explored.log = log;
  renderValues(ui, explored, { log, methodName: ctx.methodName, titleOf: ctx.formats.title });
  renderErrors(ui, explored, { log });
  renderScales(ui, explored);
}

/** The Pareto picture: the core's sweep of specs for this tensor, once per tensor, with progress and Cancel. */
async function drawSweep(selection) {
  const key = tensorKey(selection);
  const highlight = new Set(rows.map((r) => r.config));
  if (sweep?.key === key) {
    if (sweep.rows) renderPareto(ui, sweep.rows, { highlight });
    return;
  }
  sweeping = { selection, controller: new AbortController() };
  ui.paretoProgress.hidden = false;
  ui.paretoProgress.value = 0;
  ui.paretoCancel.hidden = false;
  ui.paretoLegend.textContent = 'Sweeping bit widths, granularities and schemes…';
  try {
    const swept = await ctx.run('sweep', [selection.file.id, selection.tensor], {
      signal: sweeping.controller.signal,
      onProgress: (done, total) => {
        ui.paretoProgress.value = done / total;
      },
    });
    if (!sameTensor(wanted.selection, selection)) return;
    sweep = { key, rows: swept };
    renderPareto(ui, swept, { highlight });
  } catch (error) {
    if (!isCancelled(error)) {
      ctx.setError(`compute:${selection.file.id}:${selection.tensor}`, ctx.describe(selection.file.name, error));
    } else if (sameTensor(wanted.selection, selection)) {
      sweep = { key, cancelled: true }; // not started again for this tensor by a change of settings
      ui.paretoLegend.textContent = 'The sweep was cancelled (another tensor sweeps again).';
    }
  } finally {
    sweeping = null;
    ui.paretoProgress.hidden = true;
    ui.paretoCancel.hidden = true;
  }
}

export default { id: 'comparison', title: 'Comparison', template, mount, update };
