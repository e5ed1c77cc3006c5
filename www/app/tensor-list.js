// The tensor browser: one <tbody> per open file, one row per tensor with a radio (the tensor the
// comparison and the pictures show; arrow keys move it) and a checkbox (tensors ticked for the
// whole-model run). Sortable by any column, filtered by name, with totals of what is shown.
// Whether a tensor can be quantized is the core's answer (`quantizable` in each tensor of an index).
import * as fmt from '../shared/format.js';

const elementsOf = (tensor) => tensor.shape.reduce((a, b) => a * b, 1);

/** Sort keys: the file's own order, then each column. */
const SORT_KEYS = {
  order: () => 0,
  name: (a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }),
  dtype: (a, b) => a.dtype.localeCompare(b.dtype),
  shape: (a, b) => a.shape.length - b.shape.length || a.shape.reduce((d, v, i) => d || v - (b.shape[i] ?? 0), 0),
  params: (a, b) => elementsOf(a) - elementsOf(b),
  size: (a, b) => a.byte_len - b.byte_len,
};

const COLUMNS = [
  { key: 'name', label: 'tensor' },
  { key: 'dtype', label: 'dtype' },
  { key: 'shape', label: 'shape' },
  { key: 'params', label: 'params', num: true, title: 'parameters' },
  { key: 'size', label: 'size', num: true, title: 'bytes as stored' },
];

/** Every whitespace-separated word of the filter must occur in the name (case-insensitive). */
export function matches(filter, name) {
  const words = filter.toLowerCase().split(/\s+/).filter(Boolean);
  const lower = name.toLowerCase();
  return words.every((w) => lower.includes(w));
}

/** The tensors of one file in display order: filtered, then sorted (stable, so ties keep file order). */
export function visibleTensors(tensors, { sort = { key: 'order', dir: 1 }, filter = '' } = {}) {
  const compare = SORT_KEYS[sort.key] ?? SORT_KEYS.order;
  return tensors
    .map((t, i) => ({ t, i }))
    .filter(({ t }) => matches(filter, t.name))
    .sort((a, b) => sort.dir * compare(a.t, b.t) || a.i - b.i)
    .map(({ t }) => t);
}

const DTYPE_BYTES = { I8: 1, U8: 1, I16: 2, U16: 2, I32: 4, U32: 4, I64: 8, U64: 8 };

/**
 * What quantization a tensor is stored in, from the core's index entry: "stored 8-bit, per axis 1,
 * onnx_dequantize_linear (DequantizeLinear 'w_dq') · 16 scales 0.0012–0.0031, 16 zero points · 8.63
 * bits/w", or a ggml block type's bits per weight; null for a plain tensor. Bits per weight count the
 * codes and their parameters: the scale and zero-point tensors listed with them, else (TFLite keeps them
 * in its flatbuffer) 4 bytes a scale and the code's width (TFLite's int64: 8) a zero point — the rule
 * of src/app/theirs.rs their_bytes, which `diff` reports.
 */
export function storedQuantization(tensor, tensors) {
  const elements = elementsOf(tensor);
  const bpw = (bytes) => (elements ? `${((bytes * 8) / elements).toFixed(2)} bits/w` : '');
  const q = tensor.quant;
  if (!q) return /^(Q|IQ|TQ|MXFP)/.test(tensor.dtype) && tensor.quantizable ? `ggml ${tensor.dtype} blocks · ${bpw(tensor.byte_len)}` : null;
  const g = q.granularity;
  const granularity = g.kind === 'per_tensor' ? 'per tensor' : g.kind === 'per_axis' ? `per axis ${g.axis}` : `blocks of ${g.block_size} along axis ${g.axis}`;
  const listed = tensors.filter((t) => t.parameter_of === tensor.name);
  const zeroWidth = q.scheme === 'tflite' ? 8 : DTYPE_BYTES[tensor.dtype] ?? 1;
  const codes = tensor.byte_len; // the stored codes, packed as their layout says (the reader checks the length)
  const parameters = listed.length ? listed.reduce((a, t) => a + t.byte_len, 0) : q.scales.length * 4 + (q.zero_points?.length ?? 0) * zeroWidth;
  if (q.lazy) {
    // GPTQ / AWQ: the scales and zero points are read with the tensor, not held in the index; their
    // count comes from the shapes, their range is not listed.
    const n = fmt.count(q.lazy.slots);
    const zeros = q.lazy.uniform_zero != null ? `, zero point ${q.lazy.uniform_zero}` : `, ${n} zero points`;
    return `stored ${q.bits}-bit, ${granularity}, ${q.scheme} (${q.op}) · ${n} scales (read with the tensor)${zeros} · ${bpw(codes + parameters)}`;
  }
  const lo = Math.min(...q.scales);
  const hi = Math.max(...q.scales);
  const scales = q.scales.length === 1 ? `scale ${fmt.scientific(lo)}` : `${fmt.count(q.scales.length)} scales ${fmt.scientific(lo)}–${fmt.scientific(hi)}`;
  const zeros = q.zero_points?.length ? `, ${q.zero_points.length === 1 ? `zero point ${q.zero_points[0]}` : `${fmt.count(q.zero_points.length)} zero points`}` : ', zero point 0';
  return `stored ${q.bits}-bit, ${granularity}, ${q.scheme} (${q.op}) · ${scales}${zeros} · ${bpw(codes + parameters)}`;
}

/** A tensor name that may wrap after '.', '_' and '/' (model.layers.10.self_attn.q_proj.weight). */
function breakable(name) {
  const span = document.createElement('span');
  for (const part of name.split(/(?<=[._/])/)) span.append(part, document.createElement('wbr'));
  return span;
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

/** The header row with a sort button per column (aria-sort says the current order). */
export function renderHead(table, sort, onSort) {
  const row = document.createElement('tr');
  for (const column of COLUMNS) {
    const th = document.createElement('th');
    th.scope = 'col';
    if (column.num) th.className = 'num';
    const button = Object.assign(document.createElement('button'), { type: 'button', className: 'sort', textContent: column.label });
    button.dataset.sort = column.key;
    if (column.title) button.title = `sort by ${column.title}`;
    if (sort.key === column.key) {
      th.setAttribute('aria-sort', sort.dir > 0 ? 'ascending' : 'descending');
      button.append(Object.assign(document.createElement('span'), { className: 'arrow', textContent: sort.dir > 0 ? ' ▲' : ' ▼' }));
    }
    button.addEventListener('click', () => {
      // name and dtype start A→Z; numbers start with the largest; a third click goes back to file order
      const first = column.num ? -1 : 1;
      if (sort.key !== column.key) onSort({ key: column.key, dir: first }, column.key);
      else if (sort.dir === first) onSort({ key: column.key, dir: -first }, column.key);
      else onSort({ key: 'order', dir: 1 }, column.key);
    });
    th.append(button);
    row.append(th);
  }
  table.tHead.replaceChildren(row);
}

/**
 * files: [{ id, name, index }]; selected: { fileId, tensor } or null; ticked: Set of `${fileId}:${name}`.
 * onSelect(fileId, name) when a radio is chosen; onTick(fileId, name, on); onClose(fileId).
 * renderHead's onSort(sort, clickedKey) gets the new order and the column whose button was pressed.
 */
export function renderTensorList(table, files, selected, { sort, filter, ticked, onSelect, onTick, onClose }) {
  for (const old of table.querySelectorAll('tbody')) old.remove();
  const totals = { tensors: 0, params: 0, bytes: 0, hidden: 0 };
  for (const file of files) {
    const body = document.createElement('tbody');
    body.dataset.file = file.name;

    const { format, tensors, file_len: length } = file.index;
    const close = Object.assign(document.createElement('button'), { type: 'button', className: 'close', textContent: 'close' });
    close.setAttribute('aria-label', `close ${file.name}`);
    close.addEventListener('click', () => onClose(file.id));
    const line = document.createElement('div');
    line.className = 'file-head';
    const about = document.createElement('span');
    about.append(
      Object.assign(document.createElement('span'), { className: 'file-name', textContent: file.name }),
      ` ${format}, ${tensors.length} tensor${tensors.length === 1 ? '' : 's'}, ${fmt.bytes(length)}`,
    );
    // A model read from several files (shards, external data) names them all.
    if (file.members?.length > 1) about.append(Object.assign(document.createElement('span'), { className: 'members', textContent: ` · ${file.members.length} files: ${file.members.join(', ')}` }));
    line.append(about, close);
    const heading = document.createElement('th');
    heading.colSpan = 5;
    heading.scope = 'rowgroup';
    heading.append(line);
    const headRow = document.createElement('tr');
    headRow.className = 'file-row';
    headRow.append(heading);
    body.append(headRow);

    const shown = visibleTensors(tensors, { sort, filter });
    totals.hidden += tensors.length - shown.length;
    for (const tensor of shown) {
      const { quantizable } = tensor;
      const key = `${file.id}:${tensor.name}`;
      const tr = document.createElement('tr');
      tr.dataset.tensor = tensor.name;
      tr.dataset.file = file.name;
      tr.dataset.dtype = tensor.dtype;
      tr.dataset.shape = tensor.shape.join(',');
      if (!quantizable) tr.className = 'muted';

      const tick = Object.assign(document.createElement('input'), { type: 'checkbox', className: 'tick' });
      tick.disabled = !quantizable;
      tick.checked = ticked.has(key);
      tick.setAttribute('aria-label', `include ${tensor.name} in the whole-model run`);
      tick.addEventListener('change', () => onTick(file.id, tensor.name, tick.checked));

      const radio = Object.assign(document.createElement('input'), { type: 'radio', name: 'tensor', value: key });
      radio.disabled = !quantizable;
      radio.checked = selected?.fileId === file.id && selected?.tensor === tensor.name;
      radio.addEventListener('change', () => radio.checked && onSelect(file.id, tensor.name));
      const label = document.createElement('label');
      const text = breakable(tensor.name);
      if (tensor.parameter_of) text.append(' ', Object.assign(document.createElement('span'), { className: 'tag', textContent: `quantization parameter of ${tensor.parameter_of}` }));
      else if (!quantizable) text.append(' ', Object.assign(document.createElement('span'), { className: 'tag', textContent: 'not quantizable' }));
      label.append(radio, text);
      const stored = storedQuantization(tensor, tensors);
      if (stored) {
        tr.dataset.stored = stored;
        label.append(Object.assign(document.createElement('span'), { className: 'stored', textContent: stored }));
      }
      const nameCell = document.createElement('td');
      nameCell.className = 'name';
      const wrap = document.createElement('div');
      wrap.className = 'name-wrap';
      wrap.append(tick, label);
      nameCell.append(wrap);

      const elements = elementsOf(tensor);
      const params = cell(fmt.compact(elements), 'num');
      params.title = `${fmt.count(elements)} parameters`;
      const size = cell(fmt.bytes(tensor.byte_len), 'num');
      size.title = `${fmt.count(tensor.byte_len)} bytes`;
      tr.append(nameCell, cell(tensor.dtype), cell(fmt.shape(tensor.shape), 'shape'), params, size);
      body.append(tr);
      totals.tensors += 1;
      totals.params += elements;
      totals.bytes += tensor.byte_len;
    }
    table.append(body);
  }
  renderTotals(table, totals, ticked.size);
}

function renderTotals(table, totals, tickedCount) {
  const foot = table.tFoot ?? table.createTFoot();
  const label = document.createElement('th');
  label.scope = 'row';
  label.colSpan = 3;
  const hidden = totals.hidden ? `, ${totals.hidden} hidden by the filter` : '';
  const ticked = tickedCount ? ` · ${tickedCount} ticked` : '';
  label.textContent = `${totals.tensors} tensor${totals.tensors === 1 ? '' : 's'}${hidden}${ticked}`;
  const params = cell(fmt.compact(totals.params), 'num');
  params.title = `${fmt.count(totals.params)} parameters`;
  const size = cell(fmt.bytes(totals.bytes), 'num');
  size.title = `${fmt.count(totals.bytes)} bytes`;
  const row = document.createElement('tr');
  row.className = 'totals';
  row.dataset.tensors = String(totals.tensors);
  row.dataset.params = String(totals.params);
  row.dataset.bytes = String(totals.bytes);
  row.append(label, params, size);
  foot.replaceChildren(row);
}

/** Above this f32 size a tensor is not shown unasked: opening a multi-GB model must not start with a multi-GB read. */
const FIRST_VIEW_F32_BYTES = 256 * 2 ** 20;

/** The tensor to show first: the requested name, else the largest quantizable tensor under FIRST_VIEW_F32_BYTES (else the smallest). */
export function defaultTensor(index, preferred) {
  const candidates = index.tensors.filter((t) => t.quantizable);
  const named = candidates.find((t) => t.name === preferred);
  if (named) return named.name;
  const f32Bytes = (t) => t.shape.reduce((a, b) => a * b, 1) * 4;
  const small = candidates.filter((t) => f32Bytes(t) <= FIRST_VIEW_F32_BYTES);
  const pick = small.length
    ? small.reduce((best, t) => (t.byte_len > best.byte_len ? t : best), small[0])
    : candidates.reduce((best, t) => (f32Bytes(t) < f32Bytes(best) ? t : best), candidates[0]);
  return pick?.name ?? null;
}
