// Download quantized: the selected tensor or the whole model, with the current configuration, as
// quantized safetensors, a GGUF type, or ONNX QDQ (ONNX sources). The worker plans the file from the
// index, reads one tensor's bytes at a time and posts each part; here the parts go straight to disk
// through showSaveFilePicker's writable stream where the browser has it, else into one Blob that is
// downloaded at the end. The source is never held; at most the output is.
import * as Comlink from 'comlink';
import * as fmt from './format.js';
import { $, element } from './dom.js';

const ui = {
  format: $('export-format'),
  tensor: $('export-tensor'),
  model: $('export-model'),
  cancel: $('export-cancel'),
  progress: $('export-progress'),
  status: $('export-status'),
  report: $('export-report'),
};

/** --to values, as the CLI spells them (README "Export"). */
const TARGETS = [
  ['safetensors', 'safetensors: int codes + .scale + .zero_point'],
  ['gguf:F16', 'GGUF F16'],
  ['gguf:Q8_0', 'GGUF Q8_0'],
  ['gguf:Q4_0', 'GGUF Q4_0'],
  ['gguf:Q4_1', 'GGUF Q4_1'],
  ['gguf:Q4_K', 'GGUF Q4_K'],
  ['gguf:Q6_K', 'GGUF Q6_K'],
  ['onnx-qdq', 'ONNX QDQ: DequantizeLinear weights (ONNX files)'],
];

let deps;
let running = false;

export function setup(dependencies) {
  deps = dependencies;
  ui.format.replaceChildren(...TARGETS.map(([value, label]) => element('option', { value, text: label })));
  ui.tensor.addEventListener('click', () => run(true));
  ui.model.addEventListener('click', () => run(false));
  ui.cancel.addEventListener('click', () => {
    ui.cancel.disabled = true;
    ui.status.textContent = 'Cancelling after the tensor in flight…';
    deps.engine.cancelExport();
  });
  ui.format.addEventListener('change', () => describe());
  describe();
}

/** Buttons and choices follow the selected file and tensor: ONNX QDQ only for an ONNX source, whole model only. */
export function describe() {
  if (!deps || running) return;
  const current = deps.current();
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
export function outputName(source, target, specLabel, tensor) {
  const base = source.replace(/\.[^.]+$/, '') + (tensor ? `.${tensor}` : '');
  if (target.startsWith('gguf:')) return fileSafe(`${base}.${target.slice(5)}.gguf`);
  return fileSafe(`${base}.${specLabel.replaceAll(' ', '-')}${EXTENSIONS[target]}`);
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

async function run(oneTensor) {
  const current = deps.current();
  const spec = deps.spec();
  if (!current || !spec || running) return;
  const target = ui.format.value;
  const only = oneTensor ? [current.tensor] : [];
  const name = outputName(current.file.name, target, deps.specLabel(spec), oneTensor ? current.tensor : '');
  const key = `export:${current.file.name}`;
  deps.clearError(key);
  let sink;
  try {
    // The save picker needs the click's user activation: ask before anything is awaited elsewhere.
    sink = await openSink(name);
  } catch (error) {
    if (error?.name === 'AbortError') return; // the person closed the picker
    deps.onError(key, `Export: ${error.message}`);
    return;
  }
  running = true;
  for (const b of [ui.tensor, ui.model, ui.format]) b.disabled = true;
  ui.cancel.hidden = false;
  ui.cancel.disabled = false;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.status.textContent = `Writing ${name}…`;
  ui.report.replaceChildren();
  let settled = false;
  try {
    const request = { target, spec, method: deps.method(), only };
    const report = await deps.engine.exportFile(current.file.id, request, Comlink.proxy((bytes) => sink.write(bytes)), Comlink.proxy((done, total, tensor) => {
      if (settled) return;
      ui.progress.value = done / total;
      ui.status.textContent = `${done} / ${total} — ${tensor}`;
    }));
    settled = true;
    if (report.cancelled) {
      await sink.abort();
      ui.status.textContent = 'Cancelled; nothing was saved.';
      return;
    }
    await sink.finish();
    ui.status.textContent = `${name}: ${fmt.bytes(report.total_bytes)}, ${report.tensors.length} tensors.`;
    renderReport(report);
  } catch (error) {
    settled = true;
    await sink.abort?.();
    ui.status.textContent = '';
    deps.onError(key, `Export of ${current.file.name}: ${error.message}`);
  } finally {
    running = false;
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
