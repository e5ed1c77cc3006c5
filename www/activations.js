// The "Synthetic activations" control: a seeded activation set (rows × 768 F32) from the core's generators,
// made in the worker as the bytes of a .safetensors file and opened exactly like a dropped file. The seed is
// the core's getrandom by default, shown, and can be typed in to reproduce a set.
import { $ } from './dom.js';
const ui = {
  form: $('synth-form'),
  dist: $('synth-dist'),
  rows: $('synth-rows'),
  seed: $('synth-seed'),
  newSeed: $('synth-new-seed'),
  generate: $('synth-generate'),
};
const MAX_SEED = Number.MAX_SAFE_INTEGER;
const MAX_ROWS = 65536;

let deps; // { engine, openFiles, onError, clearError }
let busy = false;

function readSeed() {
  const text = ui.seed.value.trim();
  const seed = Number(text);
  const ok = /^\d+$/.test(text) && Number.isSafeInteger(seed) && seed <= MAX_SEED;
  ui.seed.setAttribute('aria-invalid', String(!ok));
  return ok ? seed : null;
}

function readRows() {
  const rows = Number(ui.rows.value);
  const ok = Number.isInteger(rows) && rows >= 1 && rows <= MAX_ROWS;
  ui.rows.setAttribute('aria-invalid', String(!ok));
  return ok ? rows : null;
}

function update() {
  ui.generate.disabled = busy || !ui.dist.value || readSeed() === null || readRows() === null;
}

/** Fills the distributions and the first seed; `deps.openFiles(files, tensor)` opens the generated file. */
export function start(distributions, seed, d) {
  deps = d;
  ui.dist.replaceChildren(...distributions.map((name) => Object.assign(document.createElement('option'), { value: name, textContent: name })));
  if (!ui.seed.value) ui.seed.value = String(seed);
  update();
}

ui.form.addEventListener('input', update);
ui.newSeed.addEventListener('click', async () => {
  if (!deps) return;
  ui.seed.value = String(await deps.engine.randomSeed());
  update();
});
ui.form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const dist = ui.dist.value;
  const rows = readRows();
  const seed = readSeed();
  if (!deps || busy || !dist || rows === null || seed === null) return;
  busy = true;
  update();
  ui.form.setAttribute('aria-busy', 'true');
  try {
    const bytes = await deps.engine.syntheticActivations(dist, rows, seed);
    deps.clearError('synth');
    await deps.openFiles([new File([bytes], `activations-${dist}-seed-${seed}.safetensors`)], 'activations');
  } catch (error) {
    deps.onError('synth', `Synthetic ${dist} activations: ${error?.message ?? error}`);
  } finally {
    busy = false;
    ui.form.removeAttribute('aria-busy');
    update();
  }
});
