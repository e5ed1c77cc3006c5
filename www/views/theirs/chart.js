// Their SQNR and ours per tensor (worst first, as the table lists them), drawn by uPlot: two point series
// over the tensor's rank; tensors without ours (kept float, 32-bit codes) have only their point, exact
// ones (∞ dB) none.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import * as fmt from '../../shared/format.js';

let chart = null;
let observed = null;
const resizer = new ResizeObserver(([entry]) => {
  const width = Math.floor(entry.contentRect.width);
  if (chart && width > 0 && Math.abs(chart.width - width) > 1) chart.setSize({ width, height: chart.height });
});

const finiteOrNull = (v) => {
  const n = fmt.numeric(v);
  return Number.isFinite(n) ? n : null;
};

/** Draws `report.tensors` into `container`; returns the number of points drawn. */
export function drawSqnr(container, report) {
  chart?.destroy();
  container.replaceChildren();
  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const rows = report.tensors;
  const xs = rows.map((_, i) => i + 1);
  const theirs = rows.map((r) => finiteOrNull(r.theirs.sqnr_db));
  const ours = rows.map((r) => finiteOrNull(r.ours?.sqnr_db));
  const axis = (label) => ({ label, stroke: color('--muted'), grid: { stroke: color('--line'), width: 1 }, ticks: { stroke: color('--line'), width: 1 }, font: '11px system-ui, sans-serif', labelFont: '12px system-ui, sans-serif' });
  const points = (stroke, fill) => ({ show: true, size: 8, width: 1.5, stroke, fill, space: 0 });
  const width = Math.max(240, Math.floor(container.clientWidth || 480));
  chart = new uPlot(
    {
      width,
      height: 220,
      legend: { show: true, live: false },
      cursor: { points: { show: false } },
      scales: { x: { time: false }, y: {} },
      axes: [{ ...axis('tensor, worst first'), size: 30, values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? rows[v - 1]?.name ?? '' : '')) }, { ...axis('SQNR (dB)'), size: 56 }],
      series: [
        {},
        { label: 'theirs', stroke: color('--c1'), width: 0, paths: () => null, points: points(color('--c1'), color('--c1')) },
        { label: 'ours, same bits and granularity', stroke: color('--c2'), width: 0, paths: () => null, points: points(color('--c2'), 'transparent') },
      ],
    },
    [xs, theirs, ours],
    container,
  );
  if (observed !== container) {
    resizer.observe(container);
    observed = container;
  }
  const drawn = [...theirs, ...ours].filter((v) => v !== null).length;
  container.dataset.points = String(drawn);
  return drawn;
}
