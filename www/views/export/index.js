// Download quantized: the selected tensor or the whole model, with the current configuration, as
// quantized safetensors, a GGUF type, or ONNX QDQ (ONNX sources). The worker plans the file from the
// index, reads one tensor's bytes at a time and posts each part; here the parts go straight to disk
// through showSaveFilePicker's writable stream where the browser has it, else into one Blob that is
// downloaded at the end. The source is never held; at most the output is. The whole-model PTQ view's
// quantized copies (www/views/ptq, issue 12) are offered too once a run has built them: their bytes are
// the ones its row buttons download (the worker's ptqModelBytes).
import { isCancelled } from '../../app/bridge.js';
import * as fmt from '../../shared/format.js';
import { $, element } from '../../shared/dom.js';
import { onPtqVariants, ptqFileName, ptqVariants } from '../../shared/ptq-variants.js';
import template from './template.html?raw';
import './style.css';

let ui;

/** --to values, as the CLI spells them (README "Export"; every GgufTarget of src/export/gguf.rs). */
const TARGETS = [
  ['safetensors', 'safetensors: int codes + .scale + .zero_point'],
  ['gguf:F16', 'GGUF F16'],
  ['gguf:Q8_0', 'GGUF Q8_0'],
  ['gguf:Q4_0', 'GGUF Q4_0'],
  ['gguf:Q4_1', 'GGUF Q4_1'],
  ['gguf:Q4_K', 'GGUF Q4_K'],
  ['gguf:Q6_K', 'GGUF Q6_K'],
  ['gguf:Q2_K', 'GGUF Q2_K'],
  ['gguf:Q3_K', 'GGUF Q3_K'],
  ['gguf:Q5_K', 'GGUF Q5_K'],
  ['gguf:IQ4_NL', 'GGUF IQ4_NL'],
  ['onnx-qdq', 'ONNX QDQ: DequantizeLinear weights (ONNX files)'],
];

let ctx;
let running = null; // the AbortController of the export in flight
let current = null; // { file, tensor }: the selected file and tensor, else the whole-model view's file

function mount(root, context) {
  ctx = context;
  ui = {
    format: $('export-format'),
    tensor: $('export-tensor'),
    model: $('export-model'),
    cancel: $('export-cancel'),
    progress: $('export-progress'),
    status: $('export-status'),
    report: $('export-report'),
  };
  ui.format.replaceChildren(...TARGETS.map(([value, label]) => element('option', { value, text: label })));
  ui.ptq = element('optgroup', { label: 'Whole-model PTQ (the PTQ view\'s runs)' });
  listPtq(ptqVariants());
  onPtqVariants(listPtq);
  ui.tensor.addEventListener('click', () => run(true));
  ui.model.addEventListener('click', () => run(false));
  ui.cancel.addEventListener('click', () => {
    ui.cancel.disabled = true;
    ui.status.textContent = 'Cancelling after the tensor in flight…';
    running?.abort();
  });
  ui.format.addEventListener('change', () => describe());
  describe();
}

const PTQ = 'ptq:';
const ptqLabel = (target) => (target.startsWith(PTQ) ? target.slice(PTQ.length) : null);

/** The PTQ view's built variants as targets "PTQ: <label> (ONNX)"; none, no group. */
function listPtq({ labels }) {
  const chosen = ui.format.value;
  ui.ptq.replaceChildren(...labels.map((label) => element('option', { value: PTQ + label, text: `PTQ: ${label} (ONNX)` })));
  if (labels.length) ui.format.append(ui.ptq);
  else ui.ptq.remove();
  ui.format.value = [...ui.format.options].some((o) => o.value === chosen) ? chosen : 'safetensors';
  describe();
}

function update(selection) {
  const file = selection?.file ?? ctx.state.files.find((f) => f.index.tensors.some((t) => t.quantizable));
  current = file ? { file, tensor: selection?.tensor ?? null } : null;
  describe();
}

/** Buttons and choices follow the selected file and tensor: ONNX QDQ only for an ONNX source, whole model only. */
function describe() {
  if (running) return;
  const ptq = ptqLabel(ui.format.value);
  if (ptq !== null) {
    // The PTQ view's copy of its open model: the whole model only, whatever the tensor browser holds.
    ui.model.disabled = false;
    ui.tensor.disabled = true;
    ui.model.textContent = `Download ${ptqFileName(ptqVariants().model, ptq)}`;
    return;
  }
  const onnx = current?.file.index.format === 'onnx';
  const qdq = ui.format.querySelector('option[value="onnx-qdq"]');
  qdq.disabled = !onnx;
  if (!onnx && ui.format.value === 'onnx-qdq') ui.format.value = 'safetensors';
  ui.model.disabled = !current;
  ui.tensor.disabled = !current?.tensor || ui.format.value === 'onnx-qdq';
  ui.tensor.textContent = current?.tensor ? `Download ${current.tensor} quantized` : 'Download the selected tensor quantized';
  ui.model.textContent = current ? `Download ${current.file.name} quantized` : 'Download the whole model quantized';
}

const EXTENSIONS = { safetensors: '.safetensors', 'onnx-qdq': '.qdq.onnx' };
const fileSafe = (text) => text.replace(/[^\w.-]+/g, '_');

/** e.g. model.int4-sym-group_32.safetensors, model.Q4_K.gguf */
export function outputName(source, target, label, tensor) {
  const base = source.replace(/\.[^.]+$/, '') + (tensor ? `.${tensor}` : '');
  if (target.startsWith('gguf:')) return fileSafe(`${base}.${target.slice(5)}.gguf`);
  return fileSafe(`${base}.${label.replaceAll(' ', '-')}${EXTENSIONS[target]}`);
}

/** Where the parts go: a writable file stream when the browser offers a save picker, else memory. */
async function openSink(name) {
  if (typeof window.showSaveFilePicker === 'function') {
    const handle = await window.showSaveFilePicker({ suggestedName: name });
    const stream = await handle.createWritable();
    return { write: (bytes) => stream.write(bytes), finish: () => stream.close(), abort: () => stream.abort() };
  }
  const parts = [];
  return {
    write: (bytes) => parts.push(bytes),
    finish: () => {
      const url = URL.createObjectURL(new Blob(parts, { type: 'application/octet-stream' }));
      parts.length = 0;
      const a = Object.assign(document.createElement('a'), { href: url, download: name });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    abort: () => {
      parts.length = 0;
    },
  };
}

/** A PTQ variant: one piece, the bytes the PTQ view's row button takes. */
async function runPtq(label) {
  const name = ptqFileName(ptqVariants().model, label);
  const key = 'export:ptq';
  ctx.clearError(key);
  let sink;
  try {
    sink = await openSink(name); // before anything is awaited: the picker needs the click's activation
  } catch (error) {
    if (error?.name !== 'AbortError') ctx.setError(key, `Export: ${error.message}`);
    return;
  }
  running = new AbortController();
  for (const b of [ui.tensor, ui.model, ui.format]) b.disabled = true;
  ui.status.textContent = `Writing ${name}…`;
  ui.report.replaceChildren();
  try {
    const bytes = await ctx.run('ptqModelBytes', [label]);
    await sink.write(bytes);
    await sink.finish();
    ui.status.textContent = `${name}: ${fmt.bytes(bytes.byteLength)}, the PTQ view's ${label}.`;
  } catch (error) {
    await sink.abort?.();
    ui.status.textContent = '';
    ctx.setError(key, `Export of ${name}: ${error.message}`);
  } finally {
    running = null;
    ui.format.disabled = false;
    describe();
  }
}

async function run(oneTensor) {
  const ptq = ptqLabel(ui.format.value);
  if (ptq !== null) {
    if (!oneTensor) await runPtq(ptq);
    return;
  }
  const source = current;
  const { spec, label, method } = ctx.state.settings;
  if (!source || !spec || running) return;
  const target = ui.format.value;
  const only = oneTensor ? [source.tensor] : [];
  const name = outputName(source.file.name, target, label, oneTensor ? source.tensor : '');
  const key = `export:${source.file.name}`;
  ctx.clearError(key);
  let sink;
  try {
    // The save picker needs the click's user activation: ask before anything is awaited elsewhere.
    sink = await openSink(name);
  } catch (error) {
    if (error?.name === 'AbortError') return; // the person closed the picker
    ctx.setError(key, `Export: ${error.message}`);
    return;
  }
  running = new AbortController();
  for (const b of [ui.tensor, ui.model, ui.format]) b.disabled = true;
  ui.cancel.hidden = false;
  ui.cancel.disabled = false;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.status.textContent = `Writing ${name}…`;
  ui.report.replaceChildren();
  try {
    const request = { target, spec, method, only };
    const report = await ctx.run('exportFile', [source.file.id, request, (bytes) => sink.write(bytes)], {
      signal: running.signal,
      onProgress: (done, total, tensor) => {
        ui.progress.value = done / total;
        ui.status.textContent = `${done} / ${total} — ${tensor}`;
      },
    });
    await sink.finish();
    ui.status.textContent = `${name}: ${fmt.bytes(report.total_bytes)}, ${report.tensors.length} tensors.`;
    renderReport(report);
  } catch (error) {
    await sink.abort?.();
    if (isCancelled(error)) {
      ui.status.textContent = 'Cancelled; nothing was saved.';
    } else {
      ui.status.textContent = '';
      ctx.setError(key, `Export of ${source.file.name}: ${error.message}`);
    }
  } finally {
    running = null;
    ui.cancel.hidden = true;
    ui.progress.hidden = true;
    ui.format.disabled = false;
    describe();
  }
}

/** What each tensor became, as the CLI's table prints it. */
function renderReport(report) {
  const head = element('tr', {}, ['tensor', 'written as', 'bytes', 'note'].map((h) => element('th', { scope: 'col', text: h })));
  const rows = report.tensors.map((t) => element('tr', {}, [
    element('td', { text: t.name }),
    element('td', { text: t.written_as }),
    element('td', { class: 'num', text: String(t.bytes) }),
    element('td', { text: t.note ?? '' }),
  ]));
  ui.report.replaceChildren(element('table', { class: 'model-table' }, [element('thead', {}, [head]), element('tbody', {}, rows)]));
}

export default { id: 'export', title: 'Download quantized', template, mount, update };
