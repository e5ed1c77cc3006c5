// The comparison table: one column per report row (FP32 | FP16 | BF16 | INT…), one row per metric.
// Every number cell carries data-config, data-metric and the raw report value in data-value.
import * as fmt from '../../shared/format.js';
import { element } from '../../shared/dom.js';

/** better: which end of the scale wins; value: how to get the raw value from a report row. */
const METRICS = [
  { key: 'bytes_quantized', label: 'size', better: 'min', format: fmt.bytes, title: (v) => `${fmt.count(v)} bytes` },
  { key: 'compression', label: 'compression', better: 'max', value: (r) => r.bytes_fp32 / r.bytes_quantized, format: (v) => `${Number(v.toFixed(2))}×` },
  { key: 'bits_per_weight', label: 'bits per weight', better: 'min', format: (v) => String(Number(v.toFixed(3))) },
  { key: 'mse', label: 'MSE', better: 'min', format: fmt.scientific },
  { key: 'sqnr_db', label: 'SQNR (dB)', better: 'max', format: fmt.fixed(2) },
  { key: 'max_abs_err', label: 'max abs error', better: 'min', format: fmt.scientific },
  { key: 'cosine', label: 'cosine similarity', better: 'max', format: fmt.cosine },
  { key: 'clipped_share', label: 'clipped share', better: 'min', format: fmt.percent },
  // Measured in the worker around each call into the module (read from the file not included).
  { key: 'time_ms', label: 'time', better: 'min', format: fmt.milliseconds, title: (v, row) => `${v.toFixed(3)} ms in the wasm module${Number.isFinite(row?.decode_ms) ? `, with an equal share of decoding the chunks (${row.decode_ms.toFixed(3)} ms for all columns)` : ''}` },
];

/** The cells to mark: best of the compressed columns (the reference is exact, so it is no rival). */
function bestIndexes(values, configs, better, reference) {
  const candidates = values
    .map((raw, i) => ({ i, v: fmt.numeric(raw) }))
    .filter(({ i, v }) => configs[i] !== reference && v !== null && !Number.isNaN(v));
  if (candidates.length < 2) return new Set();
  const pick = better === 'min' ? Math.min : Math.max;
  const best = pick(...candidates.map((c) => c.v));
  const winners = candidates.filter((c) => c.v === best);
  return winners.length === candidates.length ? new Set() : new Set(winners.map((c) => c.i));
}

/**
 * Fills `table` from the comparison rows of one tensor. `titleOf(label)` → [title, note] (the core's);
 * `reference`: the label of the exact column; `removable`: configs the person added, whose column heads
 * get a remove button calling onRemove(config).
 */
export function renderComparison(table, rows, fileName, { titleOf, reference, removable = new Set(), onRemove }) {
  const [first] = rows;
  const configs = rows.map((r) => r.config);

  const caption = element('caption', {}, [
    element('strong', { text: first.name }),
    ` — ${first.dtype} ${fmt.shape(first.shape)}, ${fmt.count(first.elements)} parameters, from ${fileName}`,
  ]);

  const headRow = element('tr', {}, [element('th', { scope: 'col' }, [element('span', { class: 'visually-hidden', text: 'metric' })])]);
  for (const [i, config] of configs.entries()) {
    const [title, plain] = titleOf(config) ?? [config, ''];
    const method = rows[i].calibration;
    const detail = method && method !== 'minmax' ? `${plain} · ${method}` : plain;
    const th = element('th', { scope: 'col', title: config, dataset: { config } }, [title, element('small', { text: detail })]);
    if (removable.has(config)) {
      th.dataset.added = 'true';
      const remove = element('button', { type: 'button', class: 'remove', 'aria-label': `remove column ${config}`, title: 'remove this column', text: '×' });
      remove.addEventListener('click', () => onRemove?.(config));
      th.prepend(remove);
    }
    headRow.append(th);
  }

  const body = element('tbody');
  for (const metric of METRICS) {
    const values = rows.map((r) => (metric.value ? metric.value(r) : r[metric.key]));
    const best = bestIndexes(values, configs, metric.better, reference);
    const tr = element('tr', { dataset: { metric: metric.key } }, [element('th', { scope: 'row', text: metric.label })]);
    values.forEach((raw, i) => {
      const v = fmt.numeric(raw);
      const td = element('td', { dataset: { config: configs[i], metric: metric.key, value: String(raw) } });
      td.textContent = v === null ? '—' : metric.format(v);
      td.title = v === null ? 'not defined for this tensor' : metric.title ? metric.title(v, rows[i]) : String(raw);
      if (best.has(i)) {
        td.classList.add('best');
        td.dataset.best = 'true';
        td.append(element('span', { class: 'mark', 'aria-label': 'best', text: ' ★' }));
      }
      tr.append(td);
    });
    body.append(tr);
  }

  table.replaceChildren(caption, element('thead', {}, [headRow]), body);
  table.dataset.tensor = first.name;
  table.dataset.file = fileName;
}

/** Things a number in the table does not say by itself. */
export function notesFor(rows) {
  const notes = [];
  const [first] = rows;
  if (first.nonfinite > 0) {
    notes.push(`${fmt.count(first.nonfinite)} non-finite values (NaN or ±Inf) are left out of the metrics and out of the ranges.`);
  }
  for (const r of rows) {
    if (r.short_last_group) {
      const n = r.short_last_group;
      notes.push(`${r.config}: the last group of each row has ${n} element${n === 1 ? '' : 's'} (the row length is not a multiple of the group size).`);
    }
  }
  return notes;
}
