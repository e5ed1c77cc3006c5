// Theirs against ours: the selected float model and a quantized copy of it (chosen here, or any other
// open file), compared tensor by tensor in the worker (www/worker/theirs.js, the CLI's `diff --json`
// document): a summary pooled over every element, their SQNR and ours per tensor in a plot, and the
// table worst first with the matches by fingerprint marked.
import { isCancelled } from '../../app/bridge.js';
import { $, element } from '../../shared/dom.js';
import * as fmt from '../../shared/format.js';
import { drawSqnr } from './chart.js';
import template from './template.html?raw';
import './style.css';

let ui;
let ctx;
let running = null; // the AbortController of the comparison in flight
let last = null; // { floatId, copyId, report }
let pendingCopy = null; // the name of a copy opened here, to choose once it is in the file list

const MARKS = { fingerprint: ' ⁎', renamed_name: ' ∼', name: '' };
const db = (v) => fmt.fixed(2)(fmt.numeric(v));
const cos = (v) => (v === null || v === undefined ? '–' : fmt.cosine(v));

function mount(root, context) {
  ctx = context;
  ui = {
    float: $('theirs-float'),
    copy: $('theirs-copy'),
    file: $('theirs-file'),
    run: $('theirs-run'),
    cancel: $('theirs-cancel'),
    progress: $('theirs-progress'),
    status: $('theirs-status'),
    result: $('theirs-result'),
    summary: $('theirs-summary'),
    chart: $('theirs-chart'),
    table: $('theirs-table'),
    unmatched: $('theirs-unmatched'),
    rule: $('theirs-rule'),
  };
  ui.run.addEventListener('click', run);
  ui.float.addEventListener('change', () => refresh());
  ui.copy.addEventListener('change', () => refresh());
  ui.cancel.addEventListener('click', () => {
    ui.cancel.disabled = true;
    ui.status.textContent = 'Cancelling after the tensor in flight…';
    running?.abort();
  });
  ui.file.addEventListener('change', () => openCopy([...ui.file.files]));
}

/**
 * Opens the chosen file(s) as the quantized copy. The shell opens them like a drop (they join the tensor
 * list, where each stored-quantized tensor shows its scheme), then the selection goes back to the float
 * model the person had chosen, and the comparison starts.
 */
async function openCopy(list) {
  if (!list.length) return;
  const before = ctx.state.selected;
  pendingCopy = list[0].name;
  await ctx.openFiles(list);
  ui.file.value = '';
  if (before && ctx.state.files.some((f) => f.id === before.fileId)) ctx.state.select(before.fileId, before.tensor);
  const copy = [...ctx.state.files].reverse().find((f) => f.name === pendingCopy || f.members?.includes(pendingCopy));
  pendingCopy = null;
  if (!copy) return; // its error is in the page's list
  refresh();
  ui.copy.value = String(copy.id);
  if (ui.float.value && ui.float.value !== ui.copy.value) await run();
}

const fileOptions = (files, keep) => files.map((f) => Object.assign(element('option', { value: String(f.id), text: f.name }), { selected: String(f.id) === keep }));

/** The two choosers follow the open files: the float model defaults to the selected file, the copy to the newest other one. */
function refresh() {
  const { files } = ctx.state;
  const selectedId = ctx.state.selection()?.file.id;
  const floatKeep = files.some((f) => String(f.id) === ui.float.value) ? ui.float.value : String(selectedId ?? files[0]?.id ?? '');
  ui.float.replaceChildren(...fileOptions(files, floatKeep));
  const others = files.filter((f) => String(f.id) !== floatKeep);
  const copyKeep = others.some((f) => String(f.id) === ui.copy.value) ? ui.copy.value : String(others.at(-1)?.id ?? '');
  ui.copy.replaceChildren(...fileOptions(others, copyKeep));
  if (last && !(files.some((f) => f.id === last.floatId) && files.some((f) => f.id === last.copyId))) {
    last = null; // a file of the comparison was closed
    ui.result.hidden = true;
    ui.status.textContent = '';
  }
  if (running) return;
  ui.run.disabled = !ui.float.value || !ui.copy.value;
  const name = (id) => files.find((f) => String(f.id) === id)?.name;
  ui.run.textContent = ui.run.disabled ? 'Compare' : `Compare ${name(ui.copy.value)} with ${name(ui.float.value)}`;
}

function update() {
  refresh();
}

async function run() {
  if (running || !ui.float.value || !ui.copy.value) return;
  const floatId = Number(ui.float.value);
  const copyId = Number(ui.copy.value);
  const key = `theirs:${floatId}:${copyId}`;
  ctx.clearError(key);
  running = new AbortController();
  ui.run.disabled = true;
  ui.cancel.hidden = false;
  ui.cancel.disabled = false;
  ui.progress.hidden = false;
  ui.progress.value = 0;
  ui.status.textContent = 'Pairing the tensors…';
  let report = null;
  let cancelled = false;
  try {
    report = await ctx.run('diffFiles', [floatId, copyId], {
      signal: running.signal,
      onProgress: (done, total, detail) => {
        ui.progress.max = total;
        ui.progress.value = done;
        ui.status.textContent = `${done} / ${total}: ${detail}`;
      },
    });
  } catch (error) {
    if (isCancelled(error)) {
      cancelled = true;
      report = error.partial ?? null;
    } else {
      ui.status.textContent = 'The comparison failed (see the errors above).';
      ctx.setError(key, `Theirs against ours: ${error.message}`);
    }
  } finally {
    running = null;
    ui.cancel.hidden = true;
    ui.progress.hidden = true;
  }
  if (report) {
    last = { floatId, copyId, report };
    render(report, cancelled);
  }
  refresh();
}

function render(report, cancelled) {
  const s = report.summary;
  const item = (term, text, data = {}) => [element('dt', { text: term }), element('dd', { text, dataset: data })];
  const pooled = (p) => `${db(p.sqnr_db)} dB, cosine ${cos(p.cosine)}, ${p.bits_per_weight.toFixed(3)} bits per weight (${fmt.bytes(p.bytes)})`;
  ui.summary.replaceChildren(
    ...item('files', `${report.quantized_file} against ${report.float_file}`),
    ...item('matched', `${s.matched} tensors: ${s.by_name} by name, ${s.by_renamed_name} by renamed name (∼), ${s.by_fingerprint} by fingerprint (⁎)`, { matched: s.matched, byFingerprint: s.by_fingerprint }),
    ...(s.theirs
      ? [...item('theirs', `${pooled(s.theirs)} over the ${s.theirs.tensors} tensors we also quantize (${fmt.count(s.theirs.elements)} elements)`),
        ...item('ours', pooled(s.ours))]
      : item('theirs and ours', 'no matched tensor is quantized in the copy in a format we have too')),
    ...item('every matched tensor', `theirs ${pooled(s.theirs_all)}`),
    ...(s.values_disagree ? item('doubtful', `${s.values_disagree} name matches hold values that do not follow each other (marked !)`) : []),
  );
  ui.summary.dataset.theirsSqnr = s.theirs ? String(fmt.numeric(s.theirs.sqnr_db)) : '';
  ui.summary.dataset.oursSqnr = s.ours ? String(fmt.numeric(s.ours.sqnr_db)) : '';
  const num = (v, show) => element('td', { class: 'num', text: v === null || v === undefined ? '–' : show(v) });
  ui.table.tBodies[0].replaceChildren(...report.tensors.map((r) => element('tr', {
    dataset: {
      name: r.name,
      quantized: r.quantized_name,
      matchedBy: r.matched_by,
      llamaRows: r.llama_rows ? String(r.llama_rows.heads) : '',
      doubt: String(Boolean(r.values_disagree)),
      sqnr: String(fmt.numeric(r.theirs.sqnr_db)),
      cosine: String(r.theirs.cosine),
      maxAbs: String(fmt.numeric(r.theirs.max_abs_err)),
      bpw: String(r.theirs.bits_per_weight),
      oursSqnr: r.ours ? String(fmt.numeric(r.ours.sqnr_db)) : '',
      oursBpw: r.ours ? String(r.ours.bits_per_weight) : '',
    },
  }, [
    element('td', { class: 'name', text: `${r.name}${r.values_disagree ? ' !' : MARKS[r.matched_by]}`, title: r.fingerprint_score === null ? '' : `fingerprint rank correlation ${r.fingerprint_score.toFixed(4)}` }),
    element('td', { class: 'name', text: `${r.quantized_name}${r.transposed ? ' (transposed)' : ''}${r.llama_rows ? ` (rows in llama.cpp's attention order, ${r.llama_rows.heads} heads)` : ''}`, title: r.llama_rows ? "convert_hf_to_gguf.py permutes a llama's attn_q / attn_k rows; they are compared row for row after the same permutation" : '' }),
    element('td', { text: r.theirs.format }),
    num(r.theirs.sqnr_db, db),
    num(r.theirs.cosine, cos),
    num(fmt.numeric(r.theirs.max_abs_err), fmt.scientific),
    num(r.theirs.bits_per_weight, (v) => v.toFixed(3)),
    element('td', { text: r.ours ? r.ours.format : r.ours_note, title: r.ours_note }),
    num(r.ours?.sqnr_db, db),
    num(r.ours?.cosine, cos),
    num(r.ours ? fmt.numeric(r.ours.max_abs_err) : null, fmt.scientific),
    num(r.ours?.bits_per_weight, (v) => v.toFixed(3)),
  ])));
  ui.unmatched.replaceChildren(...report.unmatched.map((u) => element('li', { text: `unmatched in the ${u.file} file: ${u.name} ${u.dtype} ${fmt.shape(u.shape)}: ${u.reason}`, dataset: { name: u.name } })));
  ui.rule.textContent = `Fingerprint: ${s.fingerprint_rule}.`;
  ui.result.hidden = false;
  drawSqnr(ui.chart, report);
  ui.table.dataset.state = cancelled ? 'cancelled' : 'ready';
  ui.status.textContent = cancelled ? `Cancelled: ${report.tensors.length} tensors measured.` : `${report.tensors.length} tensors compared.`;
}

export default { id: 'theirs', title: 'Theirs against ours', template, mount, update };
