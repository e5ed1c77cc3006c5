// The tensor's pictures, drawn by uPlot from numbers the core computed (src/app/explore.rs): the value
// histogram with every calibration method's range, the error histogram of one column, every slot's scale,
// and bits per weight against SQNR over the core's sweep of specs with its Pareto front.
import * as charts from '../../shared/charts.js';
import * as fmt from '../../shared/format.js';

export function clearPictures(ui) {
  for (const c of [ui.valuesChart, ui.errorsChart, ui.scalesChart, ui.paretoChart]) charts.clear(c);
  for (const p of [ui.valuesLegend, ui.errorsLegend, ui.scalesLegend, ui.paretoLegend]) p.textContent = '';
  ui.picturesOf.textContent = '';
  ui.pictures.dataset.state = 'empty';
}

/** `e`: { values, ranges, method, slots, … } of explore; `titleOf(label)` → [title, note] from the core. */
export function renderValues(ui, e, { log, methodName, titleOf }) {
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
  charts.histogram(ui.valuesChart, e.values, { log, marks });
  const [title] = titleOf(e.slots.config) ?? [e.slots.config];
  const grid = r.grid_lo !== r.lo || r.grid_hi !== r.hi
    ? ` Dashed: what a per-tensor ${title} ${e.spec.scheme} grid covers, [${fmt.scientific(r.grid_lo)}, ${fmt.scientific(r.grid_hi)}].`
    : '';
  const otherRanges = e.ranges.filter((o) => o !== chosen).map((o) => `${methodName(o.method)} [${fmt.scientific(o.lo)}, ${fmt.scientific(o.hi)}]`);
  const nonfinite = e.values.nonfinite ? ` ${fmt.count(e.values.nonfinite)} non-finite values left out.` : '';
  ui.valuesLegend.textContent = `${fmt.count(e.values.finite)} values in ${e.values.counts.length} bins. Red: the ${methodName(chosen.method)} range of the whole tensor.${grid}${otherRanges.length ? ` Dotted: ${otherRanges.join(', ')}.` : ''}${nonfinite}`;
  ui.valuesChart.dataset.ranges = JSON.stringify(e.ranges.map((o) => [o.method, o.lo, o.hi]));
  ui.valuesChart.dataset.lo = String(e.values.lo);
  ui.valuesChart.dataset.hi = String(e.values.hi);
}

export function renderErrors(ui, e, { log }) {
  const color = getComputedStyle(document.documentElement).getPropertyValue('--c2').trim();
  charts.histogram(ui.errorsChart, e.errors, { log, xLabel: 'x − x̂', color });
  const row = e.rows.find((r) => r.config === e.errorLabel);
  const rowText = row ? ` SQNR ${fmt.fixed(2)(fmt.numeric(row.sqnr_db))} dB, max |error| ${fmt.scientific(fmt.numeric(row.max_abs_err))}.` : '';
  ui.errorsLegend.textContent = `${e.errorLabel}: errors from ${fmt.scientific(e.errors.lo)} to ${fmt.scientific(e.errors.hi)}.${rowText}`;
  ui.errorsChart.dataset.config = e.errorLabel;
}

export function renderScales(ui, e) {
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

/** `rows`: the sweep's rows with their `pareto` flag; `highlight`: the labels of the table's columns. */
export function renderPareto(ui, rows, { highlight }) {
  charts.pareto(ui.paretoChart, rows, { highlight });
  const front = rows.filter((r) => r.pareto).sort((a, b) => a.bits_per_weight - b.bits_per_weight);
  ui.paretoChart.dataset.front = front.map((r) => r.config).join('|');
  ui.paretoChart.dataset.formats = rows.filter((r) => r.family).map((r) => r.config).join('|');
  const cheapest = (bits) => front.find((r) => r.bits === bits);
  const examples = [3, 4, 8].map(cheapest).filter(Boolean).map((r) => `${r.config} (${Number(r.bits_per_weight.toFixed(2))} b/w, ${fmt.fixed(1)(fmt.numeric(r.sqnr_db))} dB)`);
  const specs = rows.filter((r) => !r.family).length;
  const formats = rows.length - specs;
  const others = formats ? ` and ${formats} formats with their own scales (FP8, MX, NVFP4, NF4, the ggml types this shape allows; larger points ringed in the text colour) at their true bits per weight` : '';
  ui.paretoLegend.textContent = `${specs} configurations with min-max ranges: bits 2–8 × granularity × scheme (filled symmetric, hollow asymmetric)${others}; ringed: the table's columns. ${front.length} are on the front, e.g. ${examples.join(', ')}.`;
}
