// Section 6 of the walk-through: the digits model's accuracy table (src/app/example through the worker's
// digitsExample, `quant-playground eval --json`), and the embedded PTQ models measured whole in this tab
// (the worker's lessonPtqResults: the PTQ view's own code on onnxruntime-web; the CLI's numbers are
// scripts/ptq_table.mjs's), beside the lecture's claim.
import { isCancelled } from '../../app/bridge.js';
import { $, element } from '../../shared/dom.js';
import * as fmt from '../../shared/format.js';
import '../../shared/lesson.css';
import template from './template.html?raw';
import './style.css';

const db = (v) => (v === null || v === undefined ? '—' : Number.isFinite(v) ? v.toFixed(2) : '∞');
const pct = (v) => (v === null || v === undefined ? '—' : `${(100 * v).toFixed(2)} %`);

/** The columns of each model's table (its template's header), from a measured row and the FP32 row. */
const PTQ_COLUMNS = {
  'textline-cls': [
    (r) => pct(r.accuracy),
    (r, fp32) => (r.label === 'FP32' ? '—' : (100 * (fp32.accuracy - r.accuracy)).toFixed(2)),
    (r) => pct(r.top1_agreement),
    (r) => db(r.label === 'FP32' ? null : r.sqnr_db),
    (r) => fmt.bytes(r.bytes),
  ],
  'paraphrase-minilm': [(r) => r.cosine.toFixed(6), (r) => pct(r.neighbour_agreement), (r) => db(r.label === 'FP32' ? null : r.sqnr_db), (r) => fmt.bytes(r.bytes)],
};

let running = null;

function showPtq(result) {
  const table = $(`lesson-results-ptq-${result.key}`);
  const fp32 = result.rows[0];
  table.tBodies[0].replaceChildren(
    ...result.rows.map((r) =>
      element('tr', { dataset: { variant: r.label, accuracy: String(r.accuracy), cosine: String(r.cosine), neighbours: String(r.neighbour_agreement) } }, [
        element('th', { scope: 'row', text: r.label }),
        ...PTQ_COLUMNS[result.key].map((cell) => element('td', { text: cell(r, fp32) })),
      ]),
    ),
  );
}

async function measurePtq(ctx, key, ui) {
  running?.abort();
  const controller = new AbortController();
  running = controller;
  const table = $(`lesson-results-ptq-${key}`);
  table.dataset.state = 'running';
  ui.progress.hidden = false;
  ui.cancel.hidden = false;
  for (const b of ui.buttons) b.disabled = true;
  ctx.clearError('lesson-results');
  const onProgress = (done, total, detail) => {
    ui.progress.max = total;
    ui.progress.value = done;
    ui.status.textContent = `${key}: ${detail ?? `${done} of ${total}`}`;
  };
  try {
    const result = await ctx.run('lessonPtqResults', [key], { signal: controller.signal, onProgress });
    showPtq(result);
    table.dataset.state = 'ready';
    ui.status.textContent = `${key}: FP32 and ${result.rows.length - 1} quantized copies on ${result.evaluationSamples} evaluation samples.`;
  } catch (error) {
    if (isCancelled(error)) {
      if (error.partial?.rows) showPtq(error.partial);
      table.dataset.state = 'cancelled';
      ui.status.textContent = `${key}: cancelled; the rows measured stay.`;
    } else {
      table.dataset.state = 'failed';
      ui.status.textContent = '';
      ctx.setError('lesson-results', `Results, ${key}: ${error.message}`);
    }
  } finally {
    if (running === controller) running = null;
    ui.progress.hidden = true;
    ui.cancel.hidden = true;
    for (const b of ui.buttons) b.disabled = false;
  }
}

export default {
  id: 'lesson-results',
  title: 'Results: accuracy against size',
  route: 'lesson',
  template,
  async mount(root, ctx) {
    const table = $('lesson-results-table');
    const status = $('lesson-results-status');
    const ui = {
      buttons: [$('lesson-results-ptq-cnn'), $('lesson-results-ptq-minilm')],
      progress: $('lesson-results-ptq-progress'),
      cancel: $('lesson-results-ptq-cancel'),
      status: $('lesson-results-ptq-status'),
    };
    for (const b of ui.buttons) b.addEventListener('click', () => measurePtq(ctx, b.dataset.model, ui));
    ui.cancel.addEventListener('click', () => running?.abort());
    try {
      const report = await ctx.run('digitsExample');
      table.tBodies[0].replaceChildren(
        ...report.rows.map((r) =>
          element('tr', { dataset: { config: r.config, accuracy: String(r.accuracy) } }, [
            element('th', { scope: 'row', text: r.config }),
            element('td', { text: `${(100 * r.accuracy).toFixed(2)}%` }),
            element('td', { text: r.drop_points.toFixed(2) }),
            element('td', { text: fmt.bytes(r.size_bytes) }),
            element('td', { text: `${r.compression.toFixed(2)}×` }),
            element('td', { text: fmt.milliseconds(r.ms) }),
          ]),
        ),
      );
      table.dataset.state = 'ready';
      status.textContent = `${report.test_rows} test digits, kernels: ${report.kernel_build}.`;
    } catch (error) {
      status.textContent = 'The table could not be computed.';
      ctx.setError('lesson-results', `Results: ${error.message}`);
    }
  },
  update() {},
};
