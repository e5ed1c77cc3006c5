// Section 5 of the walk-through: calibration methods on a seeded outlier-heavy set, and a threshold to
// move by hand whose error splits into rounding and clipping (lesson::calibration and lesson::clip_point,
// `quant-playground lesson calibration [--threshold T] --json`). URL: cbits, seed, threshold.
import { $, element, latestOnly } from '../../shared/dom.js';
import { queryChoice, queryNumber, short, svg } from '../../shared/lesson.js';
import '../../shared/lesson.css';
import template from './template.html?raw';
import './style.css';

const ELEMENTS = 20000; // lesson::OUTLIER_ELEMENTS
const TINTS = 4; // .m0 … .m3 in style.css, one per method
const WIDTH = 720;
let ui;
let ctx;
let seed;
let report = null; // the last lesson::calibration
let wantedThreshold = null;

function amax() {
  const [lo, hi] = report.histogram_range;
  return Math.max(Math.abs(lo), Math.abs(hi));
}

function histogram(threshold) {
  const h = report.histogram;
  const [lo, hi] = report.histogram_range;
  const height = 160;
  const x = (v) => 10 + ((WIDTH - 20) * (v - lo)) / (hi - lo || 1);
  const top = Math.log1p(Math.max(...h));
  const bars = h.map((c, i) => {
    const y = c ? (120 * Math.log1p(c)) / top : 0;
    return svg('rect', { class: 'bar', x: x(lo + ((hi - lo) * i) / h.length), y: 130 - y, width: Math.max(1, (WIDTH - 20) / h.length - 0.5), height: y });
  });
  const lines = report.methods.flatMap((m, i) =>
    [m.range[0], m.range[1]].map((v) => svg('line', { class: `method m${i % TINTS}`, x1: x(v), x2: x(v), y1: 5 + 8 * i, y2: 130 }, [svg('title', { text: `${m.method}: [${m.range[0]}, ${m.range[1]}]` })])),
  );
  const labels = report.methods.map((m, i) => svg('text', { x: x(m.range[1]) - 4, y: 14 + 8 * i, 'text-anchor': 'end', class: `m${i % TINTS}`, text: m.method }));
  return svg('svg', { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: 'img', 'aria-label': `Histogram of ${report.elements} values from ${short(lo)} to ${short(hi)}; ranges: ${report.methods.map((m) => `${m.method} ±${short(m.range[1])}`).join(', ')}; your threshold ±${short(threshold)}` }, [
    ...bars,
    svg('line', { class: 'axis', x1: 10, x2: WIDTH - 10, y1: 130, y2: 130 }),
    ...lines,
    svg('line', { class: 'chosen', x1: x(-threshold), x2: x(-threshold), y1: 0, y2: 130 }),
    svg('line', { class: 'chosen', x1: x(threshold), x2: x(threshold), y1: 0, y2: 130 }),
    ...labels,
    svg('text', { x: 10, y: 148, text: short(lo) }),
    svg('text', { x: WIDTH - 10, y: 148, 'text-anchor': 'end', text: short(hi) }),
    svg('text', { x: x(0), y: 148, 'text-anchor': 'middle', text: '0' }),
  ]);
}

function curve(point) {
  const c = report.curve;
  const height = 180;
  const all = c.flatMap((p) => [p.rounding_mse, p.clipping_mse, p.mse]).filter((v) => v > 0);
  const [ymin, ymax] = [Math.log10(Math.min(...all)), Math.log10(Math.max(...all))];
  const x = (t) => 80 + ((WIDTH - 90) * t) / amax();
  const y = (v) => (v > 0 ? 10 + ((height - 40) * (ymax - Math.log10(v))) / (ymax - ymin || 1) : height - 30);
  const line = (key, cls) => svg('polyline', { class: cls, points: c.map((p) => `${x(p.threshold).toFixed(1)},${y(p[key]).toFixed(1)}`).join(' ') });
  return svg('svg', { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: 'img', 'aria-label': `MSE against the threshold from ${short(c[0].threshold)} to ${short(amax())}; at ±${short(point.threshold)}: rounding ${short(point.rounding_mse)}, clipping ${short(point.clipping_mse)}, total ${short(point.mse)}` }, [
    svg('line', { class: 'axis', x1: 80, x2: WIDTH - 10, y1: height - 30, y2: height - 30 }),
    line('rounding_mse', 'rounding'),
    line('clipping_mse', 'clipping'),
    line('mse', 'total'),
    svg('line', { class: 'chosen', x1: x(point.threshold), x2: x(point.threshold), y1: 5, y2: height - 30 }),
    svg('text', { x: 76, y: 16, 'text-anchor': 'end', text: short(10 ** ymax) }),
    svg('text', { x: 76, y: height - 32, 'text-anchor': 'end', text: short(10 ** ymin) }),
    svg('text', { x: 80, y: height - 12, text: `T = ${short(c[0].threshold)}` }),
    svg('text', { x: WIDTH - 10, y: height - 12, 'text-anchor': 'end', text: `${short(amax())} (min-max)` }),
  ]);
}

const measure = latestOnly(async () => {
  if (!report) return;
  const threshold = Number(ui.threshold.value);
  try {
    const p = await ctx.run('lessonClipPoint', [report.bits, ELEMENTS, seed, threshold]);
    ui.thresholdValue.textContent = short(p.threshold);
    ui.threshold.setAttribute('aria-valuetext', `±${short(p.threshold)}`);
    ui.split.textContent = `±${short(p.threshold)}: rounding ${short(p.rounding_mse)} + clipping ${short(p.clipping_mse)} = MSE ${short(p.mse)} (${p.clipped} of ${report.elements} values clipped)`;
    Object.assign(ui.split.dataset, { threshold: String(p.threshold), mse: String(p.mse), rounding: String(p.rounding_mse), clipping: String(p.clipping_mse) });
    ui.histogram.replaceChildren(histogram(p.threshold));
    ui.curve.replaceChildren(curve(p));
    ctx.clearError('lesson-calibration');
  } catch (error) {
    ctx.setError('lesson-calibration', `Calibration: ${error.message}`);
  }
});

const refresh = latestOnly(async () => {
  const bits = Number(ui.bits.value);
  ui.status.textContent = 'Calibrating…';
  try {
    report = await ctx.run('lessonCalibration', [bits, ELEMENTS, seed]);
    ui.table.tBodies[0].replaceChildren(
      ...report.methods.map((m, i) =>
        element('tr', { dataset: { method: m.method, mse: String(m.mse) } }, [
          element('th', { scope: 'row' }, [element('span', { class: `swatch m${i % TINTS}`, 'aria-hidden': 'true', text: '▍' }), m.method]),
          element('td', { text: `[${short(m.range[0])}, ${short(m.range[1])}]` }),
          element('td', { text: short(m.scale) }),
          element('td', { text: short(m.mse) }),
          element('td', { text: Number(m.sqnr_db).toFixed(2) }),
          element('td', { text: `${(100 * m.clipped_share).toFixed(3)}%` }),
        ]),
      ),
    );
    Object.assign(ui.table.dataset, { state: 'ready', bits: String(bits), seed: String(seed) });
    const a = amax();
    Object.assign(ui.threshold, { min: String(report.curve[0].threshold), max: String(a), step: String(a / 1000) });
    const start = wantedThreshold ?? report.methods.find((m) => m.method === 'mse')?.range[1] ?? a;
    wantedThreshold = null;
    ui.threshold.value = String(start);
    ui.status.textContent = `${report.elements} values (seed ${seed}) at INT${bits}, symmetric.`;
    await measure();
  } catch (error) {
    ctx.setError('lesson-calibration', `Calibration: ${error.message}`);
  }
});

export default {
  id: 'lesson-calibration',
  title: 'Post-training quantization: choosing the range',
  route: 'lesson',
  template,
  mount(root, context) {
    ctx = context;
    ui = {
      bits: $('lesson-calibration-bits'),
      threshold: $('lesson-calibration-threshold'),
      thresholdValue: $('lesson-calibration-threshold-value'),
      split: $('lesson-calibration-split'),
      histogram: $('lesson-calibration-histogram'),
      curve: $('lesson-calibration-curve'),
      status: $('lesson-calibration-status'),
      table: $('lesson-calibration-table'),
    };
    ui.bits.value = queryChoice('cbits', [8, 6, 4], '8');
    seed = queryNumber('seed', 42);
    wantedThreshold = queryNumber('threshold', null);
    ui.bits.addEventListener('change', refresh);
    ui.threshold.addEventListener('input', measure);
    return refresh();
  },
  update() {},
};
