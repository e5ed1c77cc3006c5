// The calibration view: for the chosen tensor, at the bits and scheme of the settings, every calibration
// method's range over the whole tensor, the scale and zero point it implies, and the error of
// fake-quantizing the tensor with it (the CLI's `calibrate --json`, from the same core call), plus the
// curves the searching methods minimised. The ranges themselves are drawn on the comparison's Values picture.
import { renderTable } from '../../shared/calibration-table.js';
import * as charts from '../../shared/charts.js';
import { $, element, latestOnly } from '../../shared/dom.js';
import { renderCurves } from './curves.js';
import template from './template.html?raw';
import './style.css';

let ui;
let ctx;
let wanted = null; // { selection, settings } of the last update
let shown = null; // { key, report, tensor }

/** Computed again only when the tensor, the bits or the scheme change; the method only moves the "in use" tag. */
const keyOf = (selection, spec) => `${selection.file.id}:${selection.tensor}:${spec.bits}:${spec.scheme}`;

function mount(root, context) {
  ctx = context;
  ui = {
    section: root.querySelector('.calibration'),
    of: $('calibration-of'),
    table: $('calibration-table'),
    klChart: $('kl-chart'),
    klLegend: $('kl-legend'),
    mseChart: $('mse-chart'),
    mseLegend: $('mse-legend'),
  };
  charts.onThemeChange(renderCalibration);
}

function clear() {
  charts.clear(ui.klChart);
  charts.clear(ui.mseChart);
  ui.klLegend.textContent = '';
  ui.mseLegend.textContent = '';
  ui.of.textContent = '';
  ui.table.replaceChildren(element('caption', { text: 'Choose a tensor.' }));
  ui.table.dataset.state = 'empty';
  shown = null;
}

function update(selection, settings) {
  wanted = { selection, settings };
  if (!selection) {
    if (shown) clear();
    return null;
  }
  if (!settings.spec) return null;
  if (shown?.key === keyOf(selection, settings.spec)) {
    renderTable(ui.table, shown.report, { tensor: shown.tensor, methodName: ctx.methodName, chosen: settings.method });
    return null;
  }
  ui.section.setAttribute('aria-busy', 'true'); // fades from now, not only while its own call runs
  return calibrate();
}

const calibrate = latestOnly(async () => {
  const { selection, settings } = wanted;
  if (!selection || !settings.spec) return;
  const key = keyOf(selection, settings.spec);
  if (shown?.key === key) return;
  ui.section.setAttribute('aria-busy', 'true');
  try {
    const { bits, scheme } = settings.spec;
    const report = await ctx.run('calibrate', [selection.file.id, selection.tensor, bits, scheme]);
    const now = wanted.selection;
    if (now?.file.id !== selection.file.id || now.tensor !== selection.tensor) return; // another tensor was chosen meanwhile
    shown = { key, report, tensor: selection.tensor };
    renderCalibration();
  } catch (error) {
    ctx.setError(`compute:${selection.file.id}:${selection.tensor}`, ctx.describe(selection.file.name, error));
  } finally {
    ui.section.removeAttribute('aria-busy');
  }
});

function renderCalibration() {
  if (!shown) return;
  ui.of.textContent = `— ${shown.tensor}`;
  renderTable(ui.table, shown.report, { tensor: shown.tensor, methodName: ctx.methodName, chosen: wanted.settings.method });
  renderCurves(ui, shown.report, { methodName: ctx.methodName });
  ui.table.dataset.state = 'ready';
}

export default { id: 'calibration', title: 'Calibration', template, mount, update };
