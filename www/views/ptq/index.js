// The whole-model view: an ONNX model (embedded or dropped) with calibration and evaluation samples;
// FP32 vs dynamic INT8, static INT8 (each calibration method, per tensor and per channel) and INT4
// weight-only, each run by onnxruntime-web in the worker (www/worker/ptq.js): accuracy or agreement with
// FP32, output SQNR / cosine / max error, size and time per inference, a table and a plot; then which node
// hurts: each node's own output SQNR against FP32, the final SQNR with one node quantized at a time, and
// the "keep these N in FP32" suggestion, measured.
import { isCancelled } from '../../app/bridge.js';
import * as fmt from '../../shared/format.js';
import { $, element } from '../../shared/dom.js';
import { ptqFileName, publishPtqVariants } from '../../shared/ptq-variants.js';
import { accuracyPlot } from './plot.js';
import template from './template.html?raw';
import './style.css';

/** PtqCalibrator's method names (src/graph/calibration.rs, as in ptq-api.md). */
const METHODS = [
  { key: 'minmax', title: 'min–max' },
  { key: 'percentile', title: 'percentile 99.999' },
  { key: 'entropy', title: 'entropy (KL)' },
  { key: 'distribution', title: 'distribution' },
  { key: 'mse', title: 'MSE' },
];

/** How many of the worst nodes the suggestion tries keeping in FP32. */
const MAX_KEPT = 5;

const COLUMNS = [
  { key: 'bits', label: 'bits / weight', format: (v) => v.toFixed(2), title: () => '32 × this file\'s size / the FP32 file\'s size' },
  { key: 'accuracy', label: 'accuracy', format: fmt.percent, when: (info) => info.labels },
  { key: 'top1_agreement', label: 'top-1 = FP32', format: fmt.percent },
  { key: 'neighbour_agreement', label: 'nearest sample = FP32', format: fmt.percent, when: (info) => !info.labels && info.fp32.neighbours },
  { key: 'sqnr_db', label: 'output SQNR (dB)', format: fmt.fixed(2) },
  { key: 'cosine', label: 'cosine', format: fmt.cosine },
  { key: 'max_abs_err', label: 'max abs error', format: fmt.scientific },
  { key: 'bytes', label: 'size', format: fmt.bytes },
  { key: 'ms', label: 'ms / inference', format: fmt.milliseconds, title: () => 'median over the evaluation samples, one sample per run, onnxruntime-web wasm, one thread' },
];

let ui;
let ctx;
let info = null; // what the worker opened
let rows = []; // measured variants, in table order
let running = null; // AbortController of the job in flight

function variants(methods) {
  const list = [
    { kind: 'dynamic', granularity: 'tensor' },
    { kind: 'dynamic', granularity: 'channel' },
  ];
  for (const method of methods) {
    for (const granularity of ['tensor', 'channel']) list.push({ kind: 'static', method, granularity, activations: ui.activations.value });
  }
  list.push({ kind: 'int4' });
  return list;
}

/** Runs one job with progress and Cancel; what a cancel leaves stays shown. */
async function job(what, work) {
  running?.abort();
  const controller = new AbortController();
  running = controller;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.cancel.hidden = false;
  setBusy(true);
  ui.status.textContent = `${what}…`;
  const onProgress = (done, total, detail) => {
    ui.progress.max = total;
    ui.progress.value = done;
    ui.status.textContent = `${what}: ${detail ?? `${done} of ${total}`}`;
  };
  try {
    return await work({ signal: controller.signal, onProgress });
  } catch (error) {
    if (isCancelled(error)) {
      ui.status.textContent = `${what}: cancelled; what was measured stays.`;
      return undefined;
    }
    ui.status.textContent = '';
    ctx.setError('ptq', error.message ?? String(error));
    return undefined;
  } finally {
    if (running === controller) running = null;
    ui.progress.hidden = true;
    ui.cancel.hidden = true;
    setBusy(false);
  }
}

function setBusy(busy) {
  for (const b of [ui.openEmbedded, ui.run, ui.blameRun]) b.disabled = busy || (b !== ui.openEmbedded && !info);
  ui.openFiles.disabled = busy || !ui.modelFile.files.length || !ui.calibFiles.files.length;
  if (!busy && ui.blameRun) ui.blameRun.disabled = !rows.some((r) => r.variant?.kind === 'static');
}

function showModel(opened) {
  info = opened;
  rows = [{ label: 'FP32', bits: 32, bytes: opened.bytes, ms: opened.fp32.ms, accuracy: opened.fp32.accuracy, top1_agreement: 1, neighbour_agreement: opened.fp32.neighbours ? 1 : null, sqnr_db: Infinity, cosine: 1, max_abs_err: 0 }];
  ui.model.hidden = false;
  const inputs = opened.inputs.map((i) => `${i.name} ${i.type} ${fmt.shape(i.shape)}`).join(', ');
  ui.summary.textContent = `${opened.name} (${fmt.bytes(opened.bytes)}): inputs ${inputs}. ${opened.calibrationSamples} calibration samples, ${opened.evaluationSamples} evaluation samples${opened.sameInputs ? ' (the same ones: no evaluation inputs were given)' : ''}${opened.labels ? ', with labels' : ', no labels: agreement with FP32'}. FP32 takes ${fmt.milliseconds(opened.fp32.ms)} per inference.${opened.inputsNote ? ` Inputs: ${opened.inputsNote}.` : ''}`;
  ui.output.replaceChildren(...opened.outputs.map((o) => element('option', { value: o.name, text: `${o.name} ${fmt.shape(o.shape)}` })));
  ui.output.value = opened.output;
  ui.retrieval.hidden = true;
  ui.blameTable.replaceChildren(element('caption', { text: 'Measure the variants first, then quantize one node at a time.' }));
  ui.suggestion.textContent = '';
  render();
}

function render() {
  const columns = COLUMNS.filter((c) => !c.when || c.when(info));
  const head = element('tr', {}, [element('th', { text: 'variant', scope: 'col' }), ...columns.map((c) => element('th', { text: c.label, scope: 'col' })), element('th', { text: 'download', scope: 'col' })]);
  const body = rows.map((r) => element('tr', { dataset: { variant: r.label } }, [
    element('th', { text: r.note ? `${r.label}: ${r.note}` : r.label, scope: 'row' }),
    ...columns.map((c) => {
      const v = r[c.key];
      const cell = element('td', { text: v === null || v === undefined ? '—' : Number.isFinite(v) || c.key !== 'sqnr_db' ? c.format(v) : '∞', dataset: { key: c.key } });
      if (c.title && v !== null && v !== undefined) cell.title = c.title(v, r);
      return cell;
    }),
    element('td', {}, [downloadButton(r.label)]),
  ]));
  ui.table.replaceChildren(element('caption', { text: `FP32 and each quantized copy on ${info.evaluationSamples} evaluation samples, output '${info.output}'.` }), element('thead', {}, [head]), element('tbody', {}, body));
  ui.table.dataset.state = rows.length > 1 ? 'done' : 'fp32';
  // The Download panel offers what the worker holds: every quantized row (FP32 is the file itself).
  publishPtqVariants(info.name, rows.filter((r) => r.variant).map((r) => r.label));
  const staticRows = rows.filter((r) => r.variant?.kind === 'static' && !r.variant.exclude?.length);
  const current = ui.blameVariant.value;
  ui.blameVariant.replaceChildren(...staticRows.map((r) => element('option', { value: r.label, text: r.label })));
  if (staticRows.some((r) => r.label === current)) ui.blameVariant.value = current;
  else if (staticRows.length) ui.blameVariant.value = staticRows.reduce((a, b) => (b.sqnr_db < a.sqnr_db ? b : a)).label;
  ui.blameRun.disabled = Boolean(running) || !staticRows.length;
  accuracyPlot(ui.plot, rows, { metric: info.labels ? 'accuracy' : info.fp32.neighbours ? 'neighbour_agreement' : 'top1_agreement' });
  ui.legend.textContent = info.labels
    ? 'The plot: accuracy against the labels, by bits per weight (the file\'s size relative to FP32).'
    : 'The plot: agreement with FP32 (no labels), by bits per weight (the file\'s size relative to FP32).';
}

function downloadButton(label) {
  const button = element('button', { type: 'button', text: '.onnx', title: `Download ${label} as an ONNX file` });
  button.addEventListener('click', async () => {
    const bytes = await ctx.run('ptqModelBytes', [label]);
    const name = ptqFileName(info.name, label);
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    const a = element('a', { href: url, download: name });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  });
  return button;
}

function addRow(result) {
  const fp32Bytes = info.bytes;
  rows.push({ ...result, bits: (32 * result.bytes) / fp32Bytes });
  render();
}

function showRetrieval(result) {
  if (!info.sentences || !result.neighbours) return;
  ui.retrieval.hidden = false;
  ui.retrievalVariant.textContent = result.label;
  ui.retrievalList.replaceChildren(...info.sentences.map((s, i) => {
    const fp32 = info.fp32.neighbours[i];
    const got = result.neighbours[i];
    return element('li', { dataset: { same: String(fp32 === got) } }, [
      element('q', { text: s }),
      element('span', { text: fp32 === got ? ` → ${info.sentences[fp32]} (same)` : ` → FP32: ${info.sentences[fp32]}; quantized: ${info.sentences[got]}` }),
    ]);
  }));
}

async function runAll(event) {
  event.preventDefault();
  if (!info) return;
  const methods = [...ui.methods.querySelectorAll('input:checked')].map((i) => i.value);
  ctx.clearError('ptq');
  rows = rows.slice(0, 1);
  render();
  await job('Calibrating, quantizing and comparing', async (opts) => {
    if (methods.length) await ctx.run('ptqCalibrate', [methods, {}], opts);
    // Every variant at once: on a pool they are measured side by side, one per worker (www/app/fanout.js).
    let measured;
    try {
      measured = await ctx.run('ptqVariants', [variants(methods)], opts);
    } catch (error) {
      if (isCancelled(error)) for (const result of error.partial ?? []) addRow(result);
      throw error;
    }
    for (const result of measured.rows) addRow(result);
    if (measured.error) throw new Error(measured.error); // the variants before it stay in the table
    let worst = null;
    for (const result of measured.rows) {
      if (!worst || result.sqnr_db < worst.sqnr_db) worst = result;
    }
    if (worst) showRetrieval(worst);
    ui.status.textContent = `Measured ${rows.length - 1} quantized copies${ctx.workers > 1 ? ` on ${ctx.workers} workers` : ''}.`;
  });
}

async function blame(event) {
  event.preventDefault();
  const row = rows.find((r) => r.label === ui.blameVariant.value);
  if (!row) return;
  ctx.clearError('ptq');
  await job(`Quantizing one node at a time (${row.label})`, async (opts) => {
    let ranked;
    try {
      ranked = await ctx.run('ptqBlame', [row.variant], opts);
    } catch (error) {
      if (isCancelled(error) && error.partial?.length) ranked = [...error.partial].sort((a, b) => a.sqnr_db - b.sqnr_db);
      else throw error;
    }
    const db = (v) => (v === null || v === undefined ? '—' : Number.isFinite(v) ? fmt.fixed(2)(v) : '∞');
    ui.blameTable.replaceChildren(
      element('caption', { text: `${row.label}: each layer's own output against FP32 with every layer quantized (the error accumulated up to it, as onnxruntime's qdq_loss_debug measures it), and the final-output SQNR with only that layer quantized (every other layer in FP32); worst final SQNR first.` }),
      element('thead', {}, [element('tr', {}, ['layer', 'op', 'own output SQNR, all quantized (dB)', 'final SQNR, only it quantized (dB)', info.labels ? 'accuracy' : 'top-1 = FP32'].map((t) => element('th', { text: t, scope: 'col' })))]),
      element('tbody', {}, ranked.map((r) => element('tr', { dataset: { node: r.node } }, [
        element('th', { text: r.node, scope: 'row' }),
        element('td', { text: r.op_type }),
        element('td', { text: db(r.own_sqnr_db), dataset: { key: 'own_sqnr_db' }, title: r.own_output ? `the FP32 tensor '${r.own_output}' against its dequantized copy` : '' }),
        element('td', { text: db(r.sqnr_db), dataset: { key: 'sqnr_db' } }),
        element('td', { text: fmt.percent(info.labels ? r.accuracy : r.top1_agreement) }),
      ]))),
    );
    ui.blameTable.dataset.state = 'done';
    const worstFirst = ranked.map((r) => r.node);
    const target = info.labels ? info.fp32.accuracy : 1;
    const key = info.labels ? 'accuracy' : 'top1_agreement';
    let best = null;
    for (let n = 1; n <= Math.min(MAX_KEPT, worstFirst.length); n++) {
      const kept = await ctx.run('ptqKeepInFp32', [row.variant, worstFirst, n], opts);
      addRow(kept);
      best = kept;
      if (kept[key] >= target) break;
    }
    if (best) {
      ui.suggestion.textContent = `Keep ${best.kept.length} node${best.kept.length === 1 ? '' : 's'} in FP32 (${best.kept.join(', ')}): ${info.labels ? 'accuracy' : 'top-1 agreement'} ${fmt.percent(best[key])} (all quantized: ${fmt.percent(row[key])}, FP32: ${fmt.percent(target)}), output SQNR ${fmt.fixed(2)(best.sqnr_db)} dB.`;
    }
  });
}

async function openWith(method, args) {
  ctx.clearError('ptq');
  const opened = await job('Opening the model in onnxruntime-web', (opts) => ctx.run(method, args, opts));
  if (opened) {
    showModel(opened);
    setBusy(Boolean(running)); // the job ended before `info` was set: the first model's buttons wake up now
    ui.status.textContent = `${opened.name} runs in onnxruntime-web. Choose the methods and press the button.`;
  }
}

function mount(root, context) {
  ctx = context;
  ui = {
    embedded: $('ptq-embedded'),
    embeddedNote: $('ptq-embedded-note'),
    openEmbedded: $('ptq-open-embedded'),
    modelFile: $('ptq-model-file'),
    calibFiles: $('ptq-calib-files'),
    evalFiles: $('ptq-eval-files'),
    openFiles: $('ptq-open-files'),
    status: $('ptq-status'),
    progress: $('ptq-progress'),
    cancel: $('ptq-cancel'),
    model: $('ptq-model'),
    summary: $('ptq-model-summary'),
    runForm: $('ptq-run-form'),
    output: $('ptq-output'),
    activations: $('ptq-activations'),
    methods: $('ptq-methods'),
    run: $('ptq-run'),
    table: $('ptq-table'),
    plot: $('ptq-plot'),
    legend: $('ptq-legend'),
    retrieval: $('ptq-retrieval'),
    retrievalVariant: $('ptq-retrieval-variant'),
    retrievalList: $('ptq-retrieval-list'),
    blameForm: $('ptq-blame-form'),
    blameVariant: $('ptq-blame-variant'),
    blameRun: $('ptq-blame-run'),
    blameTable: $('ptq-blame-table'),
    suggestion: $('ptq-suggestion'),
  };
  for (const m of METHODS) {
    ui.methods.append(element('label', {}, [element('input', { type: 'checkbox', name: 'method', value: m.key, ...(m.key === 'minmax' || m.key === 'percentile' ? { checked: '' } : {}) }), ` ${m.title}`]));
  }
  ui.cancel.addEventListener('click', () => running?.abort());
  ui.openEmbedded.addEventListener('click', () => openWith('ptqOpenEmbedded', [ui.embedded.value]));
  for (const input of [ui.modelFile, ui.calibFiles, ui.evalFiles]) input.addEventListener('change', () => setBusy(Boolean(running)));
  ui.openFiles.addEventListener('click', () => openWith('ptqOpen', [ui.modelFile.files[0], [...ui.calibFiles.files], [...ui.evalFiles.files]]));
  ui.output.addEventListener('change', async () => {
    const opened = await job('Running FP32 for that output', (opts) => ctx.run('ptqChooseOutput', [ui.output.value], opts));
    if (opened) showModel({ ...info, ...opened });
  });
  ui.runForm.addEventListener('submit', runAll);
  ui.blameForm.addEventListener('submit', blame);
  // The list of embedded models is the worker's; asking for it loads nothing heavy (onnxruntime-web waits for Open).
  return ctx.run('ptqEmbedded').then((list) => {
    ui.embedded.replaceChildren(...list.map((e) => element('option', { value: e.key, text: e.title })));
    const note = () => {
      ui.embeddedNote.textContent = list.find((e) => e.key === ui.embedded.value)?.inputs ?? '';
    };
    ui.embedded.addEventListener('change', note);
    note();
  });
}

export default {
  id: 'ptq',
  title: 'Whole model PTQ',
  template,
  mount,
  update() {},
};
