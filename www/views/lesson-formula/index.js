// Section 2 of the walk-through: the quantization formula on a few values with every intermediate
// number (lesson::formula, `quant-playground lesson formula --json`). URL: values, bits, scheme, scale, zp.
import { $, element, latestOnly } from '../../shared/dom.js';
import { queryChoice, queryNumber, queryText, short } from '../../shared/lesson.js';
import '../../shared/lesson.css';
import template from './template.html?raw';
import './style.css';

const LECTURE_VALUES = '0.1, 0.5, 0.9, 1.2';
let ui;
let ctx;

function readValues() {
  const parts = ui.values.value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const values = parts.map(Number);
  const ok = values.length > 0 && values.every(Number.isFinite);
  ui.values.setAttribute('aria-invalid', String(!ok));
  return ok ? values : null;
}

function readOptional(input, check) {
  const text = input.value.trim();
  if (text === '') {
    input.setAttribute('aria-invalid', 'false');
    return { ok: true, value: null };
  }
  const v = Number(text);
  const ok = check(v);
  input.setAttribute('aria-invalid', String(!ok));
  return { ok, value: ok ? v : null };
}

/** The lecture's slide gives 96 for 0.9; say where that came from when its example is on screen. */
function describeSlip(f) {
  const lecture = f.bits === 8 && f.scheme === 'symmetric' && f.range && f.steps.map((s) => s.x).join() === '0.1,0.5,0.9,1.2';
  ui.slip.hidden = !lecture;
  if (!lecture) return;
  const step = f.steps[2];
  ui.slip.textContent = `The lecture's slide gives [11, 53, 96, 127]. Its 96 is a slip: 0.9 / ${short(f.scale)} = ${short(step.divided)}, which rounds to ${step.rounded}; the slide divided by the scale rounded to 0.0094 (0.9 / 0.0094 = 95.74 → 96).`;
}

const refresh = latestOnly(async () => {
  const values = readValues();
  const scale = readOptional(ui.scale, (v) => Number.isFinite(v) && v > 0);
  const zp = readOptional(ui.zp, (v) => Number.isInteger(v));
  if (!values || !scale.ok || !zp.ok) {
    ui.status.textContent = !values ? 'Type one or more numbers, separated by commas.' : !scale.ok ? 'The scale must be a positive number.' : 'The zero point must be a whole number.';
    return;
  }
  try {
    const f = await ctx.run('lessonFormula', [values, Number(ui.bits.value), ui.scheme.value, scale.value, scale.value === null ? null : zp.value]);
    const from = f.range
      ? f.scheme === 'symmetric'
        ? `scale = max|x| / qmax = ${short(Math.max(Math.abs(f.range[0]), Math.abs(f.range[1])))} / ${f.qmax} = ${f.scale}`
        : `scale = (max − min) / (qmax − qmin) = (${short(Math.max(f.range[1], 0))} − ${short(Math.min(f.range[0], 0))}) / ${f.qmax - f.qmin} = ${f.scale}`
      : `scale = ${f.scale} (given)`;
    ui.params.textContent = `${from}; zero_point = ${f.zero_point}; codes ${f.qmin} … ${f.qmax}`;
    ui.table.tBodies[0].replaceChildren(
      ...f.steps.map((s) =>
        element('tr', {}, [
          element('th', { scope: 'row', text: short(s.x) }),
          element('td', { text: String(s.divided) }),
          element('td', { text: String(s.rounded) }),
          element('td', { text: String(s.shifted) }),
          element('td', { text: s.clipped ? `${s.code} (clamped)` : String(s.code) }),
          element('td', { text: String(s.dequantized) }),
          element('td', { text: short(s.error) }),
        ]),
      ),
    );
    ui.codes.textContent = `[${f.codes.join(', ')}]`;
    ui.codes.dataset.codes = JSON.stringify(f.codes);
    Object.assign(ui.table.dataset, { state: 'ready', scale: String(f.scale), zeroPoint: String(f.zero_point) });
    describeSlip(f);
    ui.status.textContent = `Mean squared error ${short(f.mse)}.`;
    ctx.clearError('lesson-formula');
  } catch (error) {
    ctx.setError('lesson-formula', `The formula: ${error.message}`);
  }
});

export default {
  id: 'lesson-formula',
  title: 'The quantization formula',
  route: 'lesson',
  template,
  mount(root, context) {
    ctx = context;
    ui = {
      values: $('lesson-formula-values'),
      bits: $('lesson-formula-bits'),
      scheme: $('lesson-formula-scheme'),
      scale: $('lesson-formula-scale'),
      zp: $('lesson-formula-zp'),
      status: $('lesson-formula-status'),
      params: $('lesson-formula-params'),
      table: $('lesson-formula-table'),
      codes: $('lesson-formula-codes'),
      slip: $('lesson-formula-slip'),
    };
    ui.values.value = queryText('values', LECTURE_VALUES);
    ui.bits.value = queryChoice('bits', [8, 4, 2], '8');
    ui.scheme.value = queryChoice('scheme', ['sym', 'asym'], 'sym') === 'asym' ? 'asymmetric' : 'symmetric';
    const scale = queryNumber('scale', null);
    if (scale !== null) ui.scale.value = String(scale);
    const zp = queryNumber('zp', null);
    if (zp !== null) ui.zp.value = String(zp);
    const form = $('lesson-formula-form');
    form.addEventListener('input', refresh);
    form.addEventListener('submit', (e) => e.preventDefault());
    return refresh();
  },
  update() {},
};
