// The page's shell: opens, drops and closes files (the tensor browser), shows errors and the status,
// keeps the state in the URL, and mounts the views (www/views/, each under the contract of its README),
// or one view alone with ?embed=NAME. All computing happens in the worker (www/worker/), reached through
// the one bridge (www/app/bridge.js).
import { createBridge } from './app/bridge.js';
import { loadFormats } from './app/formats.js';
import { listenForFiles } from './app/drop.js';
import { createState } from './app/state.js';
import { defaultTensor, renderHead, renderTensorList } from './app/tensor-list.js';
import { methodName, readQuery, settingsFromQuery, writeQuery } from './shared/config.js';
import { $ } from './shared/dom.js';
import * as fmt from './shared/format.js';
import VIEWS from './views/index.js';

const EXAMPLE_SEED = 42;
const EXAMPLE_TENSOR = 'fc2.weight';

const ui = {
  fileInput: $('file-input'),
  memory: $('wasm-memory'),
  errors: $('errors'),
  status: $('status'),
  filter: $('tensor-filter'),
  tensors: $('tensors'),
  kernel: $('kernel'),
  overlay: $('drop-overlay'),
};

const fromUrl = readQuery(location.search);
// The pool of workers: ?workers=N, else one per core (www/app/pool.js); the URL keeps the choice.
const { run, runEach, workers } = createBridge({ onFailure: (message) => setError('worker', message) });
const workersQuery = new URLSearchParams(location.search).get('workers');
// The settings come from the URL once the core has answered what they mean (startup below).
const state = createState({ spec: null, label: null, method: 'minmax', added: [], errorConfig: null, log: fromUrl.view.log });
let wanted = fromUrl.view.tensor ? { file: fromUrl.view.file, tensor: fromUrl.view.tensor } : null; // the URL's tensor until its file opens
let sort = { key: 'order', dir: 1 };
let filter = '';
const mounted = []; // the views on the page

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

const sameFile = (a, b) => a.name === b.name && a.size === b.size && a.lastModified === b.lastModified;

/**
 * Files chosen or dropped together open as models: shards with or without their index JSON, an .onnx with
 * its external data, any other file on its own (the worker groups them). A file that fails shows its error
 * in place; the others, and everything opened before, stay.
 */
async function openFiles(list, preferredTensor, { unlessChosen = false } = {}) {
  const opened = [];
  if (!(unlessChosen && state.selected)) {
    setStatus(list.length === 1 ? `Reading the header of ${list[0].name}…` : `Reading the headers of ${list.length} files…`);
  }
  let result;
  try {
    result = await run('openFiles', [list]);
  } catch (error) {
    result = { opened: [], errors: [{ file: list.map((f) => f.name).join(', '), message: error?.message ?? String(error) }] };
  }
  for (const name of list.map((f) => f.name)) clearError(`file:${name}`);
  for (const { file, message } of result.errors) setError(`file:${file}`, describe(file, { message }));
  for (const entry of result.opened) {
    // Opening the same file again replaces the older entry instead of listing it twice.
    for (const old of state.files.filter((f) => sameFile(f, entry))) closeFile(old.id);
    clearError(`file:${entry.name}`);
    state.addFile(entry);
    opened.push(entry);
  }
  // The embedded example opens while the person may already have opened and chosen a tensor of their
  // own (a file dropped during start-up): their choice stays.
  if (unlessChosen && state.selected) return;
  // A tensor named in the URL wins when its file is among these.
  const fromLink = wanted && opened.find((f) => f.name === wanted.file && defaultTensor(f.index, wanted.tensor) === wanted.tensor);
  if (fromLink) {
    const { tensor } = wanted;
    wanted = null;
    state.select(fromLink.id, tensor);
    return;
  }
  const target = opened.find((f) => defaultTensor(f.index, preferredTensor));
  if (target) {
    state.select(target.id, defaultTensor(target.index, preferredTensor));
  } else if (opened.length) {
    setStatus(`${opened.map((f) => f.name).join(', ')}: no tensor to quantize (the core lists which dtypes it quantizes).`);
  } else {
    setStatus(state.files.length ? 'The files opened before are still here.' : 'Open a weight file: .safetensors, .npy, .npz, .gguf, .pt/.pth/.bin or .onnx.');
  }
}

function closeFile(id) {
  run('close', [id]);
  for (const key of errors.keys()) if (key.startsWith(`compute:${id}:`)) errors.delete(key);
  renderErrors();
  state.removeFile(id);
}

function renderFiles() {
  renderHead(ui.tensors, sort, (next, clicked) => {
    sort = next;
    renderFiles();
    ui.tensors.querySelector(`button[data-sort="${clicked}"]`)?.focus(); // the header was rebuilt
  });
  renderTensorList(ui.tensors, state.files, state.selected, {
    sort,
    filter,
    ticked: state.ticked,
    onSelect: (fileId, tensor) => state.select(fileId, tensor),
    onTick: (fileId, tensor, on) => {
      state.tick(fileId, tensor, on);
      ui.tensors.querySelector(`tr[data-tensor="${CSS.escape(tensor)}"] input.tick`)?.focus();
    },
    onClose: (id) => closeFile(id),
  });
}

ui.filter.addEventListener('input', () => {
  filter = ui.filter.value;
  renderFiles();
});

// ---- state → list, URL and views ---------------------------------------------------------------------

state.onChange((what) => {
  if (what === 'selection') {
    const key = `${state.selected.fileId}:${state.selected.tensor}`;
    const radio = [...ui.tensors.querySelectorAll('input[name="tensor"]')].find((r) => r.value === key);
    if (radio) radio.checked = true;
  } else if (what !== 'settings') {
    renderFiles();
  }
  updateUrl();
  updateViews();
});

function updateUrl() {
  const { spec, method, added, errorConfig, log } = state.settings;
  if (!spec && !state.files.length) return; // before start-up has read the URL's settings
  const file = state.files.find((f) => f.id === state.selected?.fileId);
  const query = writeQuery({
    spec,
    calibration: method,
    added: added.map((a) => a.label),
    file: file?.name ?? wanted?.file,
    tensor: state.selected?.tensor ?? wanted?.tensor,
    error: errorConfig, // set only when the person chose a column
    log,
    dialects: state.settings.dialects,
    embed: fromUrl.view.embed,
    route: fromUrl.view.route,
  });
  const kept = workersQuery === null ? query : `${query}${query.length > 1 ? '&' : ''}workers=${encodeURIComponent(workersQuery)}`;
  if (kept !== location.search) history.replaceState(null, '', `${location.pathname}${kept}${location.hash}`);
}

/** Every view hears the change; when the work they started is done, the footer shows the module's memory. */
function updateViews() {
  const selection = state.selection();
  const work = mounted.map((view) => view.update(selection, state.settings)).filter(Boolean);
  if (selection && work.length) Promise.allSettled(work).then(showMemory);
}

/**
 * The module's memory in the footer, after the chosen tensor's table, pictures, calibration and sweep:
 * wasm memory grows and never shrinks, so this is the most any work so far has needed (a big file must not
 * raise it by more than about 3× the chosen tensor's f32 size). data-after names the tensor it was read after.
 */
async function showMemory() {
  const selection = state.selection();
  try {
    const bytes = await run('memoryBytes');
    ui.memory.textContent = fmt.bytes(bytes);
    ui.memory.dataset.bytes = String(bytes);
    if (selection) ui.memory.dataset.after = `${selection.file.name}:${selection.tensor}`;
  } catch (error) {
    ui.memory.textContent = `unknown (${error?.message ?? error})`; // a readout only: the page goes on
  }
}

// ---- opening files: the input and drag-and-drop over the whole page -----------------------------------

listenForFiles({ input: ui.fileInput, overlay: ui.overlay, filter: ui.filter, onFiles: (files) => openFiles(files) });

// ---- start: the module, the settings of the URL, the views, then the examples as dropped files -------

/**
 * Each view's markup into its slot at once (the page is whole before the worker answers); with
 * ?embed=NAME only that one, first in <main>, without the page's chrome. Returns [{ view, root }].
 */
function placeViews() {
  const embedded = fromUrl.view.embed && VIEWS.find((v) => v.id === fromUrl.view.embed);
  if (fromUrl.view.embed && !embedded) setError('embed', `?embed=${fromUrl.view.embed}: no such view (there are ${VIEWS.map((v) => v.id).join(', ')}).`);
  // ?view=ROUTE: the views of that route (a view with `route` set is on its route only), under the header.
  const routes = new Set(VIEWS.map((v) => v.route).filter(Boolean));
  const route = routes.has(fromUrl.view.route) ? fromUrl.view.route : null;
  if (fromUrl.view.route && !route) setError('route', `?view=${fromUrl.view.route}: no such page (there is ${[...routes].join(', ')}).`);
  if (route && !embedded) {
    document.body.classList.add(`route-${route}`);
    for (const other of document.querySelectorAll('main > *')) other.hidden = true;
  }
  const main = document.querySelector('main');
  const shown = embedded ? [embedded] : VIEWS.filter((v) => (v.route ?? null) === route);
  return shown.map((view) => {
    let root = document.querySelector(`[data-view="${view.id}"]`);
    if (!root) {
      root = document.createElement('div');
      root.dataset.view = view.id;
      main.append(root);
    }
    if (embedded) {
      main.prepend(root);
      document.body.classList.add('embed');
      document.title = view.title;
      for (const other of document.querySelectorAll('[data-chrome], [data-view]')) other.hidden = other !== root;
    }
    root.innerHTML = view.template;
    return { view, root };
  });
}

const placed = placeViews();

async function startup() {
  renderFiles();
  try {
    const { kernel } = await run('init');
    ui.kernel.textContent = kernel;
    ui.kernel.dataset.kernel = kernel;
    // Asked once, shared by the views that list them.
    const [formats, methods, distributions] = await Promise.all([loadFormats(run), run('calibrationMethods'), run('syntheticDistributions')]);
    state.settings = settingsFromQuery(fromUrl, formats, methods);
    const ctx = {
      run,
      runEach,
      workers,
      state,
      formats,
      catalog: { methods, distributions, kernel },
      methodName,
      randomSeed: () => run('randomSeed'),
      openFiles: (list, preferredTensor) => openFiles(list, preferredTensor),
      setError,
      clearError,
      describe,
      setStatus,
    };
    const started = placed.map(({ view, root }) => view.mount(root, ctx));
    mounted.push(...placed.map(({ view }) => view));
    updateUrl();
    updateViews();
    // The synthetic file is chosen (its outlier channels show what per-channel scales do); the digits
    // model's own weights are listed beside it.
    const [bytes, digitsBytes] = await Promise.all([run('exampleFile', [EXAMPLE_SEED]), run('digitsFile')]);
    await openFiles(
      [new File([bytes], `example-seed-${EXAMPLE_SEED}.safetensors`), new File([digitsBytes], 'digits-mlp.safetensors')],
      EXAMPLE_TENSOR,
      { unlessChosen: true },
    );
    await Promise.all(started);
  } catch (error) {
    setError('startup', `The wasm module could not start: ${error?.message ?? error}`);
    setStatus('Not ready.');
  }
}

startup();
