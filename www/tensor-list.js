// The tensors of the open files: one <tbody> per file, one radio per tensor (arrow keys move the choice).
import * as fmt from './format.js';

const QUANTIZABLE = new Set(['F64', 'F32', 'F16', 'BF16']);

export function isQuantizable(tensor) {
  return QUANTIZABLE.has(tensor.dtype);
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

/**
 * files: [{ id, name, index }]; selected: { fileId, tensor } or null.
 * onSelect(fileId, tensorName) when a radio is chosen; onClose(fileId) from a file's close button.
 */
export function renderTensorList(table, files, selected, { onSelect, onClose }) {
  for (const old of table.querySelectorAll('tbody')) old.remove();
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
    line.append(about, close);
    const heading = document.createElement('th');
    heading.colSpan = 5;
    heading.scope = 'rowgroup';
    heading.append(line);
    const headRow = document.createElement('tr');
    headRow.className = 'file-row';
    headRow.append(heading);
    body.append(headRow);

    for (const tensor of tensors) {
      const quantizable = isQuantizable(tensor);
      const tr = document.createElement('tr');
      tr.dataset.tensor = tensor.name;
      tr.dataset.file = file.name;
      if (!quantizable) tr.className = 'muted';

      const radio = Object.assign(document.createElement('input'), { type: 'radio', name: 'tensor', value: `${file.id}:${tensor.name}` });
      radio.disabled = !quantizable;
      radio.checked = selected?.fileId === file.id && selected?.tensor === tensor.name;
      radio.addEventListener('change', () => radio.checked && onSelect(file.id, tensor.name));
      const label = document.createElement('label');
      const text = breakable(tensor.name);
      if (!quantizable) text.append(' ', Object.assign(document.createElement('span'), { className: 'tag', textContent: 'not quantizable' }));
      label.append(radio, text);
      const nameCell = document.createElement('td');
      nameCell.className = 'name';
      nameCell.append(label);

      const elements = tensor.shape.reduce((a, b) => a * b, 1);
      const dtypeCell = cell(tensor.dtype);
      const params = cell(fmt.compact(elements), 'num');
      params.title = `${fmt.count(elements)} parameters`;
      const size = cell(fmt.bytes(tensor.byte_len), 'num');
      size.title = `${fmt.count(tensor.byte_len)} bytes`;
      tr.append(nameCell, dtypeCell, cell(fmt.shape(tensor.shape)), params, size);
      body.append(tr);
    }
    table.append(body);
  }
}

/** The tensor to show first: the requested name, else the largest quantizable tensor. */
export function defaultTensor(index, preferred) {
  const candidates = index.tensors.filter(isQuantizable);
  const named = candidates.find((t) => t.name === preferred);
  if (named) return named.name;
  let best = null;
  for (const t of candidates) if (!best || t.byte_len > best.byte_len) best = t;
  return best?.name ?? null;
}
