// Section 1 of the walk-through: one value's bits in FP32, FP16, BF16, FP8 (E4M3, E5M2), INT8 and INT4 (the core's
// lesson::data_types, `quant-playground lesson types --json`). URL: value, intrange.
import { $, element, latestOnly } from '../../shared/dom.js';
import { queryNumber, short } from '../../shared/lesson.js';
import '../../shared/lesson.css';
import template from './template.html?raw';
import './style.css';

const TITLES = { fp32: 'FP32', fp16: 'FP16', bf16: 'BF16', 'fp8-e4m3': 'FP8 E4M3', 'fp8-e5m2': 'FP8 E5M2', int8: 'INT8', int4: 'INT4' };
let ui;
let ctx;

function readNumber(input, positive) {
  const v = Number(input.value.trim());
  const ok = input.value.trim() !== '' && Number.isFinite(v) && (!positive || v > 0);
  input.setAttribute('aria-invalid', String(!ok));
  return ok ? v : null;
}

function bitsCell(fields) {
  return element('td', { class: 'bits' }, fields.map((f) => element('span', { class: f.name, title: `${f.name}: ${f.bits}`, 'aria-label': `${f.name} ${f.bits.split('').join(' ')}`, text: f.bits })));
}

const refresh = latestOnly(async () => {
  const value = readNumber(ui.value, false);
  const range = readNumber(ui.range, true);
  if (value === null || range === null) {
    ui.status.textContent = value === null ? 'Type a number for x.' : 'The integer range must be a positive number.';
    return;
  }
  try {
    const d = await ctx.run('lessonTypes', [value, range]);
    ui.table.tBodies[0].replaceChildren(
      ...d.types.map((t) =>
        element('tr', { dataset: { type: t.label, stored: String(t.stored) } }, [
          element('th', { scope: 'row', text: `${TITLES[t.label] ?? t.label} (${t.width} bits)` }),
          bitsCell(t.fields),
          element('td', { class: 'mono', text: t.code === undefined ? short(t.stored) : `${t.code} × ${short(t.scale)} = ${short(t.stored)}` }),
          element('td', { text: short(t.abs_error) }),
          element('td', { text: short(t.max) }),
          element('td', { text: short(t.step) }),
          element('td', { text: t.class }),
        ]),
      ),
    );
    Object.assign(ui.table.dataset, { state: 'ready', value: String(d.value), range: String(d.int_range) });
    ui.status.textContent = `x = ${d.value} (as FP32: ${short(d.types[0].stored)}).`;
    ctx.clearError('lesson-types');
  } catch (error) {
    ctx.setError('lesson-types', `Data types: ${error.message}`);
  }
});

export default {
  id: 'lesson-types',
  title: 'Data types: what each format stores',
  route: 'lesson',
  template,
  mount(root, context) {
    ctx = context;
    ui = { value: $('lesson-types-value'), range: $('lesson-types-range'), status: $('lesson-types-status'), table: $('lesson-types-table') };
    ui.value.value = String(queryNumber('value', 0.1));
    ui.range.value = String(queryNumber('intrange', 1));
    $('lesson-types-form').addEventListener('input', refresh);
    $('lesson-types-form').addEventListener('submit', (e) => e.preventDefault());
    return refresh();
  },
  update() {},
};
