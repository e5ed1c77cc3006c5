// Accuracy (or agreement with FP32) against bits per weight, one point per measured variant, one colour per
// family (FP32, dynamic, static per tensor, static per channel, INT4, mixed precision): the lecture's plot.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const FAMILIES = [
  { label: 'FP32', pick: (r) => !r.variant },
  { label: 'dynamic INT8', pick: (r) => r.variant?.kind === 'dynamic' },
  { label: 'static INT8 per tensor', pick: (r) => r.variant?.kind === 'static' && r.variant.granularity === 'tensor' && !r.variant.exclude?.length },
  { label: 'static INT8 per channel', pick: (r) => r.variant?.kind === 'static' && r.variant.granularity === 'channel' && !r.variant.exclude?.length },
  { label: 'INT4 weight-only', pick: (r) => r.variant?.kind === 'int4' },
  { label: 'some nodes kept in FP32', pick: (r) => r.variant?.exclude?.length > 0 },
];

const charts = new WeakMap();

/** Draws `rows` (each { bits, [metric], variant }) into `container`; `container.dataset.points` counts the points. */
export function accuracyPlot(container, rows, { metric }) {
  charts.get(container)?.destroy();
  const css = getComputedStyle(document.documentElement);
  const color = (i) => css.getPropertyValue(`--c${(i % 5) + 1}`).trim() || '#0072b2';
  const muted = css.getPropertyValue('--muted').trim();
  const line = css.getPropertyValue('--line').trim();
  const points = rows.filter((r) => Number.isFinite(r[metric]) && Number.isFinite(r.bits));
  const xs = [...new Set(points.map((r) => r.bits))].sort((a, b) => a - b);
  const data = [xs];
  const series = [{}];
  FAMILIES.forEach((family, i) => {
    const ys = xs.map(() => null);
    for (const r of points.filter(family.pick)) {
      const at = xs.indexOf(r.bits);
      ys[at] = ys[at] === null ? 100 * r[metric] : Math.max(ys[at], 100 * r[metric]);
    }
    if (ys.every((y) => y === null)) return;
    series.push({ label: family.label, stroke: color(i), width: 0, paths: () => null, points: { show: true, size: 9, stroke: color(i), fill: color(i), space: 0 } });
    data.push(ys);
  });
  const axis = (label) => ({ label, stroke: muted, grid: { stroke: line, width: 1 }, ticks: { stroke: line, width: 1 }, font: '11px system-ui, sans-serif', labelFont: '12px system-ui, sans-serif' });
  const chart = new uPlot(
    {
      width: Math.max(240, Math.floor(container.clientWidth || 480)),
      height: 240,
      legend: { show: true, live: false },
      cursor: { points: { show: false } },
      scales: { x: { time: false } },
      axes: [axis('bits per weight (file size vs FP32)'), axis(metric === 'accuracy' ? 'accuracy (%)' : 'agreement with FP32 (%)')],
      series,
    },
    data,
    container,
  );
  charts.set(container, chart);
  container.dataset.points = String(points.length);
  return chart;
}
