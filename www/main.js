// The page: opens files through the worker, lists their tensors, and shows the comparison for the chosen
// tensor and settings. All computing happens in www/worker.js (wasm), called through comlink.
import * as Comlink from 'comlink';
import { notesFor, renderComparison } from './comparison.js';
import { defaultTensor, renderTensorList } from './tensor-list.js';

const EXAMPLE_SEED = 42;
const EXAMPLE_TENSOR = 'fc2.weight';
/** INT8 and INT4 are always compared; the bits control adds a column for any other width. */
const HEADLINE_BITS = [8, 4];

const ui = {
  fileInput: document.getElementById('file-input'),
  errors: document.getElementById('errors'),
  status: document.getElementById('status'),
  tensors: document.getElementById('tensors'),
  settings: document.getElementById('settings'),
  comparison: document.getElementById('comparison'),
  notes: document.getElementById('notes'),
  kernel: document.getElementById('kernel'),
  overlay: document.getElementById('drop-overlay'),
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
worker.addEventListener('error', (event) => {
  setError('worker', `The wasm worker could not start: ${event.message || 'see the browser console for details'}.`);
});
const engine = Comlink.wrap(worker);

const state = {
  files: [], // [{ id, name, size, lastModified, index }]
  selected: null, // { fileId, tensor }
};

// ---- errors and status -------------------------------------------------------------------------------

const errors = new Map(); // key → message; one message per file, per setting, per computation

function setError(key, message) {
  errors.set(key, message);
  renderErrors();
}

function clearError(key) {
  if (errors.delete(key)) renderErrors();
}

function renderErrors() {
  const items = [...errors.values()].map((message) => Object.assign(document.createElement('li'), { textContent: message }));
  ui.errors.querySelector('ul').replaceChildren(...items);
  ui.errors.hidden = items.length === 0;
}

ui.errors.querySelector('.dismiss').addEventListener('click', () => {
  errors.clear();
  renderErrors();
});

/** The message with the file name in front (the module's own messages usually start with it already). */
function describe(fileName, error) {
  const message = (error?.message ?? String(error)).trim();
  return message.startsWith(`${fileName}:`) ? message : `${fileName}: ${message}`;
}

function setStatus(text) {
  ui.status.textContent = text;
}

// ---- files ------------------------------------------------------------------------------------------

function sameFile(a, b) {
  return a.name === b.name && a.size === b.size && a.lastModified === b.lastModified;
}

async function openFiles(list, preferredTensor) {
  const opened = [];
  for (const file of list) {
    setStatus(`Reading the header of ${file.name}…`);
    try {
      const { id, index } = await engine.open(file);
      // Opening the same file again replaces the older entry instead of listing it twice.
      for (const old of state.files.filter((f) => sameFile(f, file))) closeFile(old.id, { quiet: true });
      clearError(`file:${file.name}`);
      const entry = { id, name: file.name, size: file.size, lastModified: file.lastModified, index };
      state.files.push(entry);
      opened.push(entry);
    } catch (error) {
      setError(`file:${file.name}`, describe(file.name, error));
    }
  }
  renderFiles();
  const target = opened.find((f) => defaultTensor(f.index, preferredTensor));
  if (target) {
    select(target.id, defaultTensor(target.index, preferredTensor));
  } else if (opened.length) {
    setStatus(`${opened.map((f) => f.name).join(', ')}: no float tensor to quantize (only F64, F32, F16 and BF16 are).`);
  } else {
    setStatus(state.files.length ? 'The files opened before are still here.' : 'Open a .safetensors or .npy file.');
  }
}

function closeFile(id, { quiet = false } = {}) {
  engine.close(id);
  state.files = state.files.filter((f) => f.id !== id);
  for (const key of errors.keys()) if (key.startsWith(`compute:${id}:`)) errors.delete(key);
  renderErrors();
  if (state.selected?.fileId === id) {
    state.selected = null;
    ui.comparison.replaceChildren(Object.assign(document.createElement('caption'), { textContent: 'Choose a tensor.' }));
    ui.comparison.dataset.state = 'empty';
    delete ui.comparison.dataset.file;
    delete ui.comparison.dataset.tensor;
    ui.notes.replaceChildren();
  }
  if (!quiet) renderFiles();
}

function renderFiles() {
  renderTensorList(ui.tensors, state.files, state.selected, { onSelect: select, onClose: (id) => closeFile(id) });
}

function select(fileId, tensor) {
  state.selected = { fileId, tensor };
  const radio = [...ui.tensors.querySelectorAll('input[name="tensor"]')].find((r) => r.value === `${fileId}:${tensor}`);
  if (radio) radio.checked = true;
  compute();
}

// ---- settings ---------------------------------------------------------------------------------------

/** The specs for INT8, INT4 and the chosen width, or null (with the problem shown) when a field is invalid. */
function readSpecs() {
  const form = ui.settings.elements;
  const granularity = form.granularity.value;
  const groupField = form.groupSize;
  groupField.disabled = granularity !== 'group';
  form.range.disabled = form.scheme.value !== 'symmetric';

  let granularityLabel = granularity === 'channel' ? 'channel:0' : 'tensor';
  if (granularity === 'group') {
    const size = Number(groupField.value);
    if (!Number.isInteger(size) || size < 1) {
      groupField.setAttribute('aria-invalid', 'true');
      setError('settings', `Group size: "${groupField.value}" is not a whole number of at least 1.`);
      return null;
    }
    granularityLabel = `group:${size}`;
  }
  groupField.removeAttribute('aria-invalid');
  clearError('settings');

  const bits = Number(form.bits.value);
  const widths = HEADLINE_BITS.includes(bits) ? HEADLINE_BITS : [...HEADLINE_BITS, bits];
  return widths.map((b) => ({
    bits: b,
    scheme: form.scheme.value,
    full_range: form.scheme.value === 'symmetric' && form.range.value === 'full',
    granularity: granularityLabel,
    scale_dtype: form.scaleDtype.value,
  }));
}

ui.settings.addEventListener('input', () => compute());
ui.settings.addEventListener('submit', (event) => event.preventDefault());

// ---- computing --------------------------------------------------------------------------------------

let running = false;
let pending = false;

/** One computation at a time; changes made meanwhile coalesce into one more run with the latest state. */
async function compute() {
  if (running) {
    pending = true;
    return;
  }
  running = true;
  try {
    do {
      pending = false;
      await computeOnce();
    } while (pending);
  } finally {
    running = false;
  }
}

async function computeOnce() {
  const selected = state.selected;
  const specs = readSpecs();
  if (!selected || !specs) return;
  const file = state.files.find((f) => f.id === selected.fileId);
  if (!file) return;
  const computeKey = `compute:${file.id}:${selected.tensor}`; // kept until dismissed or this tensor works
  setStatus(`Computing ${selected.tensor}…`);
  ui.comparison.setAttribute('aria-busy', 'true');
  try {
    const started = performance.now();
    const rows = await engine.compare(selected.fileId, selected.tensor, specs);
    if (state.selected !== selected) return; // another tensor was chosen meanwhile; the next run shows it
    renderComparison(ui.comparison, rows, file.name);
    ui.comparison.dataset.state = 'ready';
    ui.notes.replaceChildren(...notesFor(rows).map((text) => Object.assign(document.createElement('li'), { textContent: text })));
    clearError(computeKey);
    setStatus(`${selected.tensor}: ${rows.length} formats compared in ${Math.round(performance.now() - started)} ms.`);
  } catch (error) {
    setError(computeKey, describe(file.name, error));
    setStatus(`${selected.tensor} could not be compared; the table shows the last result.`);
  } finally {
    ui.comparison.removeAttribute('aria-busy');
  }
}

// ---- opening files: the input and drag-and-drop over the whole page -----------------------------------

ui.fileInput.addEventListener('change', () => {
  const files = [...ui.fileInput.files];
  ui.fileInput.value = ''; // so that choosing the same file again is a change too
  if (files.length) openFiles(files);
});

const carriesFiles = (event) => event.dataTransfer?.types?.includes('Files');
let dragDepth = 0;
window.addEventListener('dragenter', (event) => {
  if (!carriesFiles(event)) return;
  dragDepth += 1;
  ui.overlay.hidden = false;
});
window.addEventListener('dragleave', (event) => {
  if (!carriesFiles(event)) return;
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) ui.overlay.hidden = true;
});
window.addEventListener('dragover', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = 'copy';
});
window.addEventListener('drop', (event) => {
  event.preventDefault(); // never let the browser navigate to the dropped file
  dragDepth = 0;
  ui.overlay.hidden = true;
  const files = [...(event.dataTransfer?.files ?? [])];
  if (files.length) openFiles(files);
});

// ---- start: the module, then the synthetic example through the same path as a dropped file ------------

async function startup() {
  try {
    const { kernel } = await engine.init();
    ui.kernel.textContent = kernel;
    ui.kernel.dataset.kernel = kernel;
    const bytes = await engine.exampleFile(EXAMPLE_SEED);
    await openFiles([new File([bytes], `example-seed-${EXAMPLE_SEED}.safetensors`)], EXAMPLE_TENSOR);
  } catch (error) {
    setError('startup', `The wasm module could not start: ${error?.message ?? error}`);
    setStatus('Not ready.');
  }
}

startup();
