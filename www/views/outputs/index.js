// The Outputs view: y = W·x for the chosen weight W [n, k] and an activation set x [m, k] (a seeded synthetic
// distribution, or an open tensor read as rows of k), one output element followed through the static INT8
// pipeline step by step with its real numbers (Jacob et al. 2017; TFLite's fixed-point requantization), and
// the whole output's error for static INT8, dynamic INT8 and INT4 against FP32. Every number comes from the
// core (src/app/trace.rs) in the worker — `quant-playground trace --json` prints the same document. Speeds
// of the same kernels are the speed view's.
import * as fmt from '../../shared/format.js';
import { $, element, readWholeNumber, showSeed } from '../../shared/dom.js';
import template from './template.html?raw';
import './style.css';

let ui;

const MAX_SEED = Number.MAX_SAFE_INTEGER;
const MAX_ROWS = 4096;

let ctx;
let target = null; // the selection as a weight (format.js weightOf)
let running = false;

const get = (obj, path) => path.split('.').reduce((o, key) => o?.[key], obj);
const codes = (list, k) => `[${list.join(', ')}${k > list.length ? ', …' : ''}]`;
const num = (v) => (typeof v === 'number' && Number.isInteger(v) ? String(v) : fmt.scientific(v));
const real = (v) => (v === null || v === undefined ? '—' : Number(v).toPrecision(6));
const short = (v) => (v === 0 ? '0' : Number(v).toPrecision(3));

/**
 * The steps, in order: a plain-words caption, the rule, and the numbers (each a path into the trace; the
 * page keeps the raw value in data-value so a test can compare it with the CLI's JSON).
 */
const STEPS = [
  {
    caption: 'Calibrate x: its range gives the activation scale and zero point (u8, asymmetric, one for the whole tensor).',
    values: [['quantization.input_range', 'range', (v) => `[${real(v[0])}, ${real(v[1])}]`], ['quantization.input_scale', 's_a', real], ['quantization.input_zero_point', 'z_a', num]],
  },
  {
    caption: 'Quantize W: one scale per output channel (its row’s largest |w| / 127), symmetric, so the zero point is 0.',
    values: [['element.weight_scales_shown', 'scales of channels 0…', (v, t, trace) => codes(v.map(short), trace.n)], ['element.weight_scale', 's_w (this row)', real], ['element.weight_zero_point', 'z_w', num]],
  },
  {
    caption: 'The integer codes: q = round(value / scale) + zero point, clamped (first few shown).',
    values: [
      ['element.weights_shown', 'W row', (v, t) => codes(v.map(short), t.k)],
      ['element.weight_codes_shown', 'q_w', (v, t) => codes(v, t.k)],
      ['element.inputs_shown', 'x', (v, t) => codes(v.map(short), t.k)],
      ['element.input_codes_shown', 'q_a', (v, t) => codes(v, t.k)],
    ],
  },
  {
    caption: 'Multiply the codes and add them up in 32-bit integers.',
    values: [['element.sum_products', 'Σ q_a·q_w', num], ['element.sum_input_codes', 'Σ q_a', num], ['element.sum_weight_codes', 'Σ q_w', num]],
  },
  {
    caption: 'Take out the zero points: Σ(q_a − z_a)(q_w − z_w) = Σq_a·q_w − z_w·Σq_a − z_a·Σq_w + K·z_a·z_w. The kernel gets the same accumulator.',
    values: [
      ['element.zero_point_terms.weight_zero_point_term', '−z_w·Σq_a', num],
      ['element.zero_point_terms.input_zero_point_term', '−z_a·Σq_w', num],
      ['element.zero_point_terms.constant_term', 'K·z_a·z_w', num],
      ['element.accumulator', 'accumulator', num],
      ['element.kernel_accumulator', 'kernel', num],
    ],
  },
  {
    caption: 'Add the bias, quantized to an i32 at scale s_a·s_w. The sum times s_a·s_w is the real value it stands for.',
    values: [['element.bias', 'bias', real], ['element.bias_code', 'bias code', num], ['element.accumulator_with_bias', 'acc + bias', num], ['element.accumulator_real', '× s_a·s_w', real]],
  },
  {
    caption: 'Calibrate the output y (the FP32 outputs of the whole batch): its scale and zero point.',
    values: [['quantization.output_range', 'range', (v) => `[${real(v[0])}, ${real(v[1])}]`], ['quantization.output_scale', 's_y', real], ['quantization.output_zero_point', 'z_y', num]],
  },
  {
    caption: 'The real multiplier M = s_a·s_w / s_y, stored as an integer M0 (Q31, in [2^30, 2^31)) and a power of two: M = M0 · 2^(shift − 31), i.e. (M0 / 2^31) · 2^−n.',
    values: [['element.real_multiplier', 'M', real], ['element.multiplier_q31', 'M0', num], ['element.shift', 'shift', num], ['element.exponent_n', 'n', num]],
  },
  {
    caption: 'SaturatingRoundingDoublingHighMul: (acc · 2^left shift) × M0 / 2^31, rounded — the multiply by M0 / 2^31.',
    values: [['element.left_shift', 'left shift', num], ['element.high_mul', 'result', num]],
  },
  {
    caption: 'RoundingDivideByPOT: divide by 2^n, rounding half away from zero — the multiply by 2^−n.',
    values: [['element.right_shift', 'n', num], ['element.divided', 'result', num]],
  },
  {
    caption: 'Add the output zero point and clamp to the u8 range: the final 8-bit code.',
    values: [['element.with_zero_point', '+ z_y', num], ['element.clamp_min', 'min', num], ['element.clamp_max', 'max', num], ['element.code', 'code', num]],
  },
  {
    caption: 'Read the code back as a real number, next to the FP32 value it approximates.',
    values: [['element.dequantized', '(code − z_y)·s_y', real], ['element.fp32', 'FP32', real], ['element.error', 'error', real]],
  },
];

const PATHS = [
  { key: 'static_int8', title: 'INT8 static', detail: 'this pipeline: u8 x, int8 W per channel, 8-bit y' },
  { key: 'dynamic_int8', title: 'INT8 dynamic', detail: 'u8 x per row, min-max at run time; f32 y' },
  { key: 'int4_g32', title: 'INT4 g32', detail: 'int4 W per group of 32 × int8 x per row; f32 y' },
];
const METRICS = [
  { key: 'mse', label: 'MSE', format: fmt.scientific },
  { key: 'sqnr_db', label: 'SQNR (dB)', format: fmt.fixed(2) },
  { key: 'max_abs_err', label: 'max abs error', format: fmt.scientific },
];

/** The x choices: each synthetic distribution, then each open tensor that is whole rows of k. */
function fillSources(k) {
  const previous = ui.source.value;
  const options = ctx.catalog.distributions.map((d) => element('option', { value: `synthetic:${d}`, text: `synthetic ${d}` }));
  for (const file of ctx.state.files) {
    for (const t of file.index.tensors) {
      const count = t.shape.reduce((a, b) => a * b, 1);
      if (k && count > 0 && count % k === 0 && t.quantizable) {
        options.push(element('option', { value: `tensor:${file.id}:${t.name}`, text: `${file.name}: ${t.name} (${count / k} rows)` }));
      }
    }
  }
  ui.source.replaceChildren(...options);
  if ([...ui.source.options].some((o) => o.value === previous)) ui.source.value = previous;
  const synthetic = ui.source.value.startsWith('synthetic:');
  ui.rows.disabled = !synthetic;
  ui.seed.disabled = !synthetic;
}

/** What a press does (or why it cannot), and the x choices for the chosen weight. */
function describeTarget() {
  if (running) return;
  const matrix = target?.matrix;
  fillSources(matrix?.k);
  const ok = matrix && readWholeNumber(ui.row, 0, matrix.n - 1) !== null && readWholeNumber(ui.sample, 0, MAX_ROWS - 1) !== null
    && (!ui.source.value.startsWith('synthetic:') || (readWholeNumber(ui.seed, 0, MAX_SEED) !== null && readWholeNumber(ui.rows, 1, MAX_ROWS) !== null));
  ui.run.disabled = !ok;
  if (!target) ui.status.textContent = 'Choose a weight tensor.';
  else if (!matrix) ui.status.textContent = `${target.tensor} has one axis; the Outputs view needs a weight [out, in…].`;
  else ui.status.textContent = ok ? `W [${matrix.n}, ${matrix.k}]: output rows 0 to ${matrix.n - 1}.` : 'Check the highlighted fields (whole numbers in range).';
  ui.run.textContent = target && matrix ? `Trace y = W·x on ${target.tensor}` : 'Trace';
}

function mount(root, context) {
  ctx = context;
  ui = {
    form: $('outputs-form'),
    source: $('outputs-source'),
    rows: $('outputs-rows'),
    seed: $('outputs-seed'),
    row: $('outputs-row'),
    sample: $('outputs-sample'),
    method: $('outputs-method'),
    run: $('outputs-run'),
    status: $('outputs-status'),
    steps: $('outputs-steps'),
    errors: $('outputs-errors'),
    of: $('outputs-of'),
  };
  ui.form.addEventListener('submit', (event) => {
    event.preventDefault();
    run();
  });
  ui.form.addEventListener('input', describeTarget);
  ui.method.replaceChildren(...ctx.catalog.methods.map((m) => element('option', { value: m, text: ctx.methodName(m) })));
  // The seed shown before the first run: the core's getrandom, so that two people differ unless they share it.
  showSeed(ui.seed, ctx.randomSeed(), describeTarget);
  describeTarget();
}

/** The x choices list the open tensors, so this follows the files as well as the selection. */
function update(selection) {
  target = fmt.weightOf(selection);
  describeTarget();
}

async function run() {
  const matrix = target?.matrix;
  if (running || !matrix) return;
  const job = target;
  const [kind, ...rest] = ui.source.value.split(':');
  const inputs = kind === 'synthetic'
    ? { kind, distribution: rest.join(':'), rows: readWholeNumber(ui.rows, 1, MAX_ROWS), seed: readWholeNumber(ui.seed, 0, MAX_SEED) }
    : { kind: 'tensor', fileId: Number(rest[0]), tensor: rest.slice(1).join(':') };
  const request = { inputs, row: readWholeNumber(ui.row, 0, matrix.n - 1), sample: readWholeNumber(ui.sample, 0, MAX_ROWS - 1), method: ui.method.value };
  running = true;
  ui.run.disabled = true;
  ui.steps.setAttribute('aria-busy', 'true');
  ui.status.textContent = `Tracing y[${request.sample}, ${request.row}] of ${job.tensor}…`;
  const errorKey = `outputs:${job.fileId}:${job.tensor}`;
  try {
    const trace = await ctx.run('outputsTrace', [job.fileId, job.tensor, request]);
    render(trace);
    ctx.clearError(errorKey);
    ui.status.textContent = `Done: y[${request.sample}, ${request.row}] of ${trace.tensor}.`;
  } catch (error) {
    ctx.setError(errorKey, `${job.file}: Outputs view on '${job.tensor}': ${error?.message ?? error}`);
    ui.status.textContent = 'The trace stopped; see the message above.';
  } finally {
    running = false;
    ui.steps.removeAttribute('aria-busy');
    const status = ui.status.textContent;
    describeTarget();
    ui.status.textContent = status;
  }
}

function describeInputs(inputs, m, k) {
  return inputs.kind === 'synthetic'
    ? `x: ${m} rows of ${inputs.distribution} (σ = 1) from seed ${inputs.seed}`
    : `x: ${inputs.file}: ${inputs.tensor} as ${m} rows of ${k}`;
}

function render(trace) {
  const { element: t } = trace;
  const header = element('p', { class: 'trace-head' }, [
    element('strong', { text: `${trace.tensor}` }),
    ` W [${trace.n}, ${trace.k}]${trace.bias_tensor ? ` + ${trace.bias_tensor}` : ''}; ${describeInputs(trace.inputs, trace.m, trace.k)}; ranges by ${ctx.methodName(trace.method)}. `,
    `Output element y[${t.sample}, ${t.row}] (x row ${t.sample}, output channel ${t.row}):`,
  ]);
  const items = STEPS.map((step, i) => {
    const values = element('dl', { class: 'trace-values' });
    for (const [path, label, format] of step.values) {
      const v = get(trace, path);
      // Each name stays with its number when the line wraps (a <div> may group a <dt> and its <dd>).
      values.append(element('div', {}, [
        element('dt', { text: label }),
        element('dd', { dataset: { key: path, value: JSON.stringify(v) }, title: JSON.stringify(v), text: v === null || v === undefined ? '—' : format(v, t, trace) }),
      ]));
    }
    return element('li', { dataset: { step: String(i + 1) } }, [element('p', { text: step.caption }), values]);
  });
  ui.steps.replaceChildren(...items);
  ui.steps.dataset.state = 'ready';
  Object.assign(ui.steps.dataset, { tensor: trace.tensor, file: trace.file, row: String(t.row), sample: String(t.sample) });
  const caption = element('caption', {}, [
    `Whole output y [${trace.m}, ${trace.n}] against FP32 (largest |y| ${fmt.scientific(trace.max_abs_fp32)}); time per call: see the speed panel.`,
  ]);
  const head = element('tr', {}, [element('th', { scope: 'col', text: 'path' }), ...METRICS.map((c) => element('th', { scope: 'col', text: c.label }))]);
  const body = element('tbody');
  for (const p of PATHS) {
    const tr = element('tr', { dataset: { path: p.key } }, [element('th', { scope: 'row' }, [p.title, element('small', { text: p.detail })])]);
    for (const c of METRICS) {
      const raw = trace[p.key][c.key];
      const v = fmt.numeric(raw);
      tr.append(element('td', { dataset: { path: p.key, metric: c.key, value: String(raw) }, title: String(raw), text: v === null ? '—' : c.format(v) }));
    }
    body.append(tr);
  }
  ui.errors.replaceChildren(caption, element('thead', {}, [head]), body);
  ui.errors.dataset.state = 'ready';
  ui.of.replaceChildren(...header.childNodes);
}

export default { id: 'outputs', title: 'Outputs: one element of y = W·x through the integer pipeline', template, mount, update };
