// The calibration method table (the calibration view's for one tensor, the activations view's for
// batches): every method's range, the scale and zero point it implies, and the error of fake-quantizing
// with it, as the CLI's `calibrate --json` reports them.
import * as fmt from './format.js';
import { element } from './dom.js';

/** What a column shows; every cell keeps the report's raw value in data-value. */
const COLUMNS = [
  { key: 'range', label: 'range [lo, hi]', format: ([lo, hi]) => `[${fmt.scientific(lo)}, ${fmt.scientific(hi)}]`, raw: (v) => JSON.stringify(v) },
  { key: 'scale', label: 'scale', format: fmt.scientific },
  { key: 'zero_point', label: 'zero point', format: String },
  { key: 'mse', label: 'MSE', format: fmt.scientific },
  { key: 'sqnr_db', label: 'SQNR (dB)', format: fmt.fixed(2) },
  { key: 'clipped_share', label: 'clipped', format: fmt.percent },
];

/** What each method does, for the row's title. */
const ABOUT = {
  minmax: 'The smallest and largest value: nothing is clipped, one outlier stretches the grid.',
  percentile: 'Cuts the tails at a percentile of a 2048-bin histogram (ONNX Runtime’s rule; |x| when symmetric).',
  mse: 'The threshold whose expected quantization MSE (clipping + rounding) is lowest.',
  entropy: 'The threshold whose 128-bin quantized histogram is closest in KL divergence (ONNX Runtime).',
  'entropy:trt': 'The threshold whose quantized |x| histogram is closest in KL divergence (TensorRT, Migacz 2017).',
};


/**
 * The methods with the highest SQNR as the table shows it (two decimals: a method 1e-12 dB behind reads the
 * same and is marked too); none when all tie, as there is nothing to choose.
 */
export function bestMethods(methods) {
  const sqnr = methods.map((m) => fmt.numeric(m.sqnr_db)).filter((v) => v !== null && !Number.isNaN(v));
  if (sqnr.length < 2) return new Set();
  const shown = fmt.fixed(2);
  const best = shown(Math.max(...sqnr));
  const winners = methods.filter((m) => fmt.numeric(m.sqnr_db) !== null && shown(fmt.numeric(m.sqnr_db)) === best);
  return winners.length === methods.length ? new Set() : new Set(winners.map((m) => m.method));
}

/** Fills the table from the report: one row per method; `chosen` (the form's method) is tagged as in use. */
export function renderTable(table, report, { tensor, methodName, chosen }) {
  const best = bestMethods(report.methods);
  const scheme = report.scheme === 'symmetric' ? 'symmetric' : 'asymmetric';
  const caption = element('caption', {}, [
    element('strong', { text: tensor }),
    ` — ${report.bits}-bit ${scheme}, one range for the whole tensor (${fmt.count(report.elements)} values`,
    report.nonfinite ? `, ${fmt.count(report.nonfinite)} non-finite left out)` : ')',
  ]);
  const head = element('tr', {}, [element('th', { scope: 'col', text: 'method' }), ...COLUMNS.map((c) => element('th', { scope: 'col', text: c.label }))]);
  const body = element('tbody');
  for (const m of report.methods) {
    const about = ABOUT[m.method] ?? ABOUT[m.method.split(':')[0]] ?? '';
    const name = element('th', { scope: 'row', title: about }, [methodName(m.method)]);
    if (m.method === chosen) name.append(' ', element('span', { class: 'tag', title: 'The calibration the comparison and the pictures above use (the form’s calibration)', text: 'in use' }));
    name.append(element('small', { text: m.method }));
    const tr = element('tr', { dataset: { method: m.method } }, [name]);
    if (m.method === chosen) tr.classList.add('chosen');
    for (const c of COLUMNS) {
      const raw = m[c.key];
      const v = c.key === 'range' ? raw : fmt.numeric(raw);
      const td = element('td', { dataset: { method: m.method, metric: c.key, value: c.raw ? c.raw(raw) : String(raw) } });
      td.textContent = v === null ? '—' : c.format(v);
      td.title = c.raw ? c.raw(raw) : String(raw);
      if (c.key === 'sqnr_db' && best.has(m.method)) {
        td.classList.add('best');
        td.dataset.best = 'true';
        td.append(element('span', { class: 'mark', 'aria-label': 'best', text: ' ★' }));
        tr.classList.add('best-row');
      }
      tr.append(td);
    }
    body.append(tr);
  }
  table.replaceChildren(caption, element('thead', {}, [head]), body);
  table.dataset.tensor = tensor;
  table.dataset.bits = String(report.bits);
  table.dataset.scheme = report.scheme;
}
