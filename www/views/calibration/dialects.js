// Two calibration methods side by side on one tensor (the calibration view's "compare two dialects"):
// both selects list what the core serves (calibration_dialects: label, dialect, what it follows), the
// numbers are `calibrate --method A,B --json`'s, and both searched curves share one chart.
import * as charts from '../../shared/charts.js';
import * as fmt from '../../shared/format.js';
import { COLUMNS as ROWS } from '../../shared/calibration-table.js';
import { element } from '../../shared/dom.js';
import { describeCurves } from './curves.js';

export const DEFAULT_PAIR = ['entropy', 'entropy:trt'];

const DIALECT_NAMES = { ort: 'onnxruntime', trt: 'TensorRT / modelopt', ours: 'this crate' };

/** "A,B" from the URL when both are labels the core serves, else the default pair (or the first two served). */
export function pairOf(text, infos) {
  const labels = infos.map((i) => i.label);
  const asked = (text ?? '').split(',').map((s) => s.trim());
  if (asked.length === 2 && asked.every((l) => labels.includes(l))) return asked;
  if (DEFAULT_PAIR.every((l) => labels.includes(l))) return [...DEFAULT_PAIR];
  return [labels[0], labels[1] ?? labels[0]];
}

/** The methods a pair asks the core for (one label once). */
export const methodsOf = (pair) => [...new Set(pair)].join(',');

const optionText = (info) => `${info.label} (${DIALECT_NAMES[info.dialect] ?? info.dialect})`;

/** Fills both selects from the served list, each showing its label of `pair`. */
export function fillSelects(selects, infos, pair) {
  selects.forEach((select, i) => {
    select.replaceChildren(...infos.map((info) => element('option', { value: info.label, text: optionText(info) })));
    select.value = pair[i];
  });
}

/** The two columns, the "follows …" lines and the shared curve chart for `report` (one tensor, both methods). */
export function renderDialects(ui, report, { tensor, pair, infos, methodName }) {
  const byLabel = new Map(infos.map((i) => [i.label, i]));
  const results = pair.map((label) => report.methods.find((m) => m.method === label));
  const scheme = report.scheme === 'symmetric' ? 'symmetric' : 'asymmetric';
  const caption = element('caption', {}, [element('strong', { text: tensor }), ` — ${report.bits}-bit ${scheme}, one range for the whole tensor`]);
  const head = element('tr', {}, [
    element('th', { scope: 'col', text: 'metric' }),
    ...pair.map((label, i) => element('th', { scope: 'col', dataset: { slot: 'ab'[i], method: label } }, [
      methodName(label), element('small', { text: `${label} · ${DIALECT_NAMES[byLabel.get(label)?.dialect] ?? '?'}` }),
    ])),
  ]);
  const body = element('tbody');
  for (const row of ROWS) {
    const tr = element('tr', { dataset: { metric: row.key } }, [element('th', { scope: 'row', text: row.label })]);
    results.forEach((m, i) => {
      const raw = m?.[row.key];
      const v = row.key === 'range' ? raw : fmt.numeric(raw);
      const value = row.raw ? row.raw(raw) : String(raw);
      const td = element('td', { dataset: { slot: 'ab'[i], method: pair[i], metric: row.key, value }, title: value });
      td.textContent = v === null || v === undefined ? '—' : row.format(v);
      tr.append(td);
    });
    body.append(tr);
  }
  ui.table.replaceChildren(caption, element('thead', {}, [head]), body);
  Object.assign(ui.table.dataset, { tensor, bits: String(report.bits), scheme: report.scheme, pair: pair.join(','), state: 'ready' });

  ui.about.replaceChildren(...pair.map((label, i) => element('li', { dataset: { slot: 'ab'[i], method: label } }, [
    element('strong', { text: `${methodName(label)}: ` }), byLabel.get(label)?.about ?? '',
  ])));

  const css = getComputedStyle(document.documentElement);
  const colors = ['--c1', '--c2'].map((v) => css.getPropertyValue(v).trim());
  const details = new Map(report.details.results.map((r) => [r.method, r]));
  const curves = pair
    .map((label, i) => ({ label, r: details.get(label), i }))
    .filter(({ r, i }) => r?.curve?.thresholds.length && pair.indexOf(r.method) === i)
    .map(({ label, r, i }) => ({
      method: label,
      label: methodName(label),
      short: 'AB'[i],
      thresholds: r.curve.thresholds,
      values: r.curve.values,
      best: r.curve.best,
      range: r.range,
      color: colors[i],
      metric: r.curve.metric,
    }));
  const unsearched = pair.filter((label, i) => pair.indexOf(label) === i && !curves.some((c) => c.method === label));
  const none = unsearched.map((label) => `${methodName(label)} searches no threshold.`).join(' ');
  if (!curves.length) {
    charts.clear(ui.chart);
    ui.chart.dataset.curves = '[]';
    ui.legend.textContent = none;
    return;
  }
  const metrics = [...new Set(curves.map((c) => c.metric))];
  const yLabel = metrics.map((m) => (m === 'kl' ? 'KL divergence' : 'expected MSE')).join(' / ');
  charts.curves(ui.chart, curves, { xLabel: 'threshold t (the range clipped to ±t)', yLabel: `${yLabel} (log)` });
  const sentences = metrics.map((m) => describeCurves(curves.filter((c) => c.metric === m), m === 'kl' ? 'KL' : 'expected MSE'));
  ui.legend.textContent = [...sentences, none].filter(Boolean).join(' ');
}
