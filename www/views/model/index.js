// The whole model: one configuration over every float tensor of a file (or the ticked ones), tensor by
// tensor, spread over the pool of workers (one tensor per job, gathered in the file's order, so the table
// is the same for any pool size), with progress and Cancel; a tensor that fails is listed with its error
// and the others stay; a summary, the worst tensors by SQNR, every tensor, and
// downloads as CSV and as JSON in the CLI's `quantize --json` schema.
import { isCancelled } from '../../app/bridge.js';
import * as fmt from '../../shared/format.js';
import { $, element } from '../../shared/dom.js';
import template from './template.html?raw';
import './style.css';

const WORST = 10;

let ui;
let ctx;
let running = null; // the AbortController of the run in flight
let last = null; // { fileId, document, config, ms, cancelled }

/** The columns of the CSV, in the report's field order. */
const CSV_FIELDS = ['name', 'dtype', 'shape', 'elements', 'config', 'bits', 'scheme', 'full_range', 'granularity', 'calibration',
  'mse', 'sqnr_db', 'max_abs_err', 'cosine', 'clipped_share', 'bytes_fp32', 'bytes_quantized', 'bits_per_weight', 'nonfinite', 'short_last_group'];

export function toCsv(rows) {
  const quote = (v) => {
    const text = v === undefined || v === null ? '' : Array.isArray(v) ? v.join('x') : String(v);
    return /[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return `${[CSV_FIELDS.join(','), ...rows.map((r) => CSV_FIELDS.map((f) => quote(r[f])).join(','))].join('\n')}\n`;
}

/** The CLI's document: {file, format, tensors, skipped}, rows without the page's own time_ms and read_ms. */
export function toJson(document) {
  const tensors = document.tensors.map(({ time_ms, read_ms, ...row }) => row);
  return `${JSON.stringify({ file: document.file, format: document.format, tensors, skipped: document.skipped }, null, 2)}\n`;
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = Object.assign(document.createElement('a'), { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const baseName = (name) => name.replace(/\.[^.]+$/, '');
const fileSafe = (text) => text.replace(/[^\w.-]+/g, '_');

function mount(root, context) {
  ctx = context;
  ui = {
    config: $('model-config'),
    run: $('model-run'),
    cancel: $('model-cancel'),
    progress: $('model-progress'),
    status: $('model-status'),
    result: $('model-result'),
    summary: $('model-summary'),
    worst: $('model-worst'),
    all: $('model-all'),
    csv: $('model-csv'),
    json: $('model-json'),
    workers: $('model-workers'),
  };
  ui.workers.textContent = `${ctx.workers} worker${ctx.workers === 1 ? '' : 's'}`;
  ui.workers.dataset.workers = String(ctx.workers);
  ui.run.addEventListener('click', run);
  ui.config.addEventListener('change', () => update(ctx.state.selection(), ctx.state.settings));
  ui.cancel.addEventListener('click', () => {
    ui.cancel.disabled = true;
    ui.status.textContent = 'Cancelling after the tensors in flight…';
    running?.abort();
  });
  ui.csv.addEventListener('click', () => last && download(`${fileSafe(baseName(last.document.file))}.${fileSafe(last.config)}.csv`, toCsv(last.document.tensors), 'text/csv'));
  ui.json.addEventListener('click', () => last && download(`${fileSafe(baseName(last.document.file))}.${fileSafe(last.config)}.json`, toJson(last.document), 'application/json'));
}

/** The selected file (else the first with a quantizable tensor), its ticked tensors, and how many will run. */
function target() {
  const { files, ticked } = ctx.state;
  const selected = ctx.state.selection();
  const file = selected?.file ?? files.find((f) => f.index.tensors.some((t) => t.quantizable));
  if (!file) return null;
  const names = file.index.tensors.filter((t) => ticked.has(`${file.id}:${t.name}`)).map((t) => t.name);
  return { file, names, count: names.length || file.index.tensors.filter((t) => t.quantizable).length };
}

/**
 * The configurations a run can take: the settings' own (its spec with the calibration method), then each
 * added column — an integer spec with the method, any other format (FP8, MX, NVFP4, NF4, ggml) by its label.
 */
function configurations(settings) {
  const methodNote = settings.method === 'minmax' ? '' : `, ${settings.method} ranges`;
  const own = settings.spec ? [{ key: settings.label, spec: settings.spec, text: `${settings.label}${methodNote}` }] : [];
  const added = settings.added.filter((a) => a.label !== settings.label)
    .map((a) => (a.spec ? { key: a.label, spec: a.spec, text: `${a.label}${methodNote}` } : { key: a.label, label: a.label, text: a.label }));
  return [...own, ...added];
}

/** The chosen configuration, or null when there is none. */
function chosen(settings) {
  const list = configurations(settings);
  return list.find((c) => c.key === ui.config.value) ?? list[0] ?? null;
}

/** The run button says what it will do: which tensors of which file, with which configuration. */
function update(selection, settings) {
  const list = configurations(settings);
  const keep = list.some((c) => c.key === ui.config.value) ? ui.config.value : list[0]?.key;
  ui.config.replaceChildren(...list.map((c) => element('option', { value: c.key, text: c.text })));
  if (keep !== undefined) ui.config.value = keep;
  ui.config.disabled = running !== null || list.length < 2;
  if (last && !ctx.state.files.some((f) => f.id === last.fileId)) {
    last = null; // its file was closed
    ui.result.hidden = true;
    ui.status.textContent = '';
  }
  if (running) return;
  const t = target();
  const config = chosen(settings)?.text;
  ui.run.disabled = !t || !config;
  if (!t) {
    ui.run.textContent = 'Quantize every float tensor';
    return;
  }
  const what = t.names.length ? `the ${t.count} ticked tensor${t.count === 1 ? '' : 's'}` : `all ${t.count} float tensors`;
  ui.run.textContent = `Quantize ${what} of ${t.file.name} as ${config}`;
}

/** The tensors a run takes (the ticked ones that exist, else every quantizable one) and those it skips (not float). */
function plan(file, names) {
  const { tensors } = file.index;
  if (names.length) return { picked: names.map((n) => tensors.find((t) => t.name === n)).filter(Boolean), skipped: [] };
  const skipped = tensors.filter((t) => !t.quantizable).map((t) => ({ name: t.name, dtype: t.dtype, reason: 'not a float tensor' }));
  return { picked: tensors.filter((t) => t.quantizable), skipped };
}

/**
 * The CLI's `quantize --json` document from the answers, in the file's order. A tensor that failed is
 * listed in `skipped` with its error as the reason (and in `failed`, for the page).
 */
function documentOf(file, picked, skipped, answers) {
  const tensors = [];
  const failed = [];
  answers.forEach((answer, i) => {
    if (answer.error) failed.push({ name: picked[i].name, dtype: picked[i].dtype, reason: answer.error.message ?? String(answer.error) });
    else tensors.push(answer.value);
  });
  return { file: file.name, format: file.index.format, tensors, skipped: [...skipped, ...failed], failed };
}

async function run() {
  const t = target();
  const { method } = ctx.state.settings;
  const configuration = chosen(ctx.state.settings);
  if (!t || !configuration || running) return;
  running = new AbortController();
  ui.config.disabled = true;
  const key = `model:${t.file.name}`;
  ctx.clearError(key);
  ui.run.disabled = true;
  ui.cancel.hidden = false;
  ui.cancel.disabled = false;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.status.textContent = `0 / ${t.count}`;
  const started = performance.now();
  const { picked, skipped } = plan(t.file, t.names);
  const items = picked.map((info) => [t.file.id, info.name, configuration.spec ?? null, method, configuration.label ?? null]);
  let document = null;
  let cancelled = false;
  try {
    const answers = await ctx.runEach('modelTensor', items, {
      signal: running.signal,
      label: (item) => item[1],
      onProgress: (done, total, name) => {
        ui.progress.value = done / total;
        ui.status.textContent = `${done} / ${total} — ${name}`;
      },
    });
    document = documentOf(t.file, picked, skipped, answers);
  } catch (error) {
    if (isCancelled(error) && error.partial) {
      document = documentOf(t.file, picked, skipped, error.partial);
      cancelled = true;
    } else {
      ctx.setError(key, `${t.file.name}: the whole-model run stopped: ${error?.message ?? error}`);
      ui.status.textContent = 'Stopped; see the error above.';
    }
  }
  if (document?.failed.length) {
    const list = document.failed.map((f) => `tensor '${f.name}': ${f.reason}`).join('; ');
    ctx.setError(key, `${t.file.name}: ${document.failed.length} of ${t.count} tensors failed (listed as skipped in the JSON; the others are in the table): ${list}`);
  }
  if (document) {
    const ms = performance.now() - started;
    const first = document.tensors[0];
    const config = first ? `${first.config}${!first.calibration || first.calibration === 'minmax' ? '' : ` ${first.calibration}`}` : '';
    ui.status.textContent = cancelled
      ? `Cancelled after ${document.tensors.length} of ${t.count} tensors; the table shows those.`
      : `${document.tensors.length} tensors in ${fmt.milliseconds(ms)} on ${ctx.workers} worker${ctx.workers === 1 ? '' : 's'}${document.failed.length ? `; ${document.failed.length} failed, see the error above` : ''}.`;
    last = { fileId: t.file.id, document, config, ms, cancelled };
    render(last);
  }
  running = null;
  ui.cancel.hidden = true;
  ui.progress.hidden = true;
  ui.run.disabled = false;
  ui.result.dataset.state = last?.cancelled ? 'cancelled' : 'done';
  update(ctx.state.selection(), ctx.state.settings);
}

const COLUMNS = [
  { key: 'name', label: 'tensor' },
  { key: 'shape', label: 'shape', format: (v) => fmt.shape(v) },
  { key: 'elements', label: 'params', num: true, format: fmt.compact },
  { key: 'bytes_quantized', label: 'size', num: true, format: fmt.bytes },
  { key: 'bits_per_weight', label: 'bits/w', num: true, format: (v) => String(Number(v.toFixed(3))) },
  { key: 'sqnr_db', label: 'SQNR (dB)', num: true, format: (v) => fmt.fixed(2)(fmt.numeric(v)) },
  { key: 'max_abs_err', label: 'max abs error', num: true, format: (v) => fmt.scientific(fmt.numeric(v)) },
  { key: 'clipped_share', label: 'clipped', num: true, format: fmt.percent },
  { key: 'time_ms', label: 'time', num: true, format: fmt.milliseconds },
  { key: 'read_ms', label: 'read', num: true, format: fmt.milliseconds },
];

function fillTable(table, rows, caption) {
  const head = element('tr', {}, COLUMNS.map((c) => element('th', { scope: 'col', class: c.num ? 'num' : '', text: c.label })));
  const body = element('tbody', {}, rows.map((r) => element('tr', { dataset: { tensor: r.name } }, COLUMNS.map((c) => {
    const td = element('td', { class: c.num ? 'num' : 'name', dataset: { metric: c.key, value: JSON.stringify(r[c.key]) }, text: c.format ? c.format(r[c.key]) : r[c.key] });
    return td;
  }))));
  const parts = caption ? [element('caption', { text: caption })] : [];
  table.replaceChildren(...parts, element('thead', {}, [head]), body);
}

function render({ document, config, ms, cancelled }) {
  const rows = document.tensors;
  const fp32 = rows.reduce((a, r) => a + r.bytes_fp32, 0);
  const stored = rows.reduce((a, r) => a + r.bytes_quantized, 0);
  const elements = rows.reduce((a, r) => a + r.elements, 0);
  const bySqnr = [...rows].sort((a, b) => fmt.numeric(a.sqnr_db) - fmt.numeric(b.sqnr_db));
  const worst = bySqnr[0];
  const failed = document.failed?.length ?? 0;
  const notFloat = document.skipped.length - failed;
  const facts = [
    ['file', document.file],
    ['configuration', config],
    ['tensors', `${rows.length} quantized${notFloat ? `, ${notFloat} skipped (not float)` : ''}${failed ? `, ${failed} failed` : ''}${cancelled ? ' — cancelled' : ''}`],
    ['size', `${fmt.bytes(fp32)} as FP32 → ${fmt.bytes(stored)} (${Number((fp32 / Math.max(1, stored)).toFixed(2))}× smaller)`],
    ['bits per weight', elements ? String(Number(((stored * 8) / elements).toFixed(3))) : '—'],
    ['worst SQNR', worst ? `${fmt.fixed(2)(fmt.numeric(worst.sqnr_db))} dB (${worst.name})` : '—'],
    ['time', `${fmt.milliseconds(ms)} in all on ${ctx.workers} worker${ctx.workers === 1 ? '' : 's'}; the tensors took ${fmt.milliseconds(rows.reduce((a, r) => a + r.time_ms, 0))} in the wasm modules and ${fmt.milliseconds(rows.reduce((a, r) => a + r.read_ms, 0))} to read from the file, summed over the workers`],
  ];
  ui.summary.replaceChildren(...facts.flatMap(([k, v]) => [element('dt', { text: k }), element('dd', { text: v })]));
  ui.summary.dataset.fp32 = String(fp32);
  ui.summary.dataset.stored = String(stored);
  fillTable(ui.worst, bySqnr.slice(0, WORST), `Worst ${Math.min(WORST, rows.length)} tensors by SQNR`);
  fillTable(ui.all, rows);
  ui.result.hidden = false;
}

export default { id: 'model', title: 'Whole model', template, mount, update };
