// The pictures, drawn by uPlot from numbers the core computed (src/explore.rs): value and error
// histograms, every slot's scale, the bits-per-weight vs SQNR scatter of a sweep of specs, and the curves
// the calibration methods searched (threshold → KL or expected MSE).
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import * as fmt from './format.js';

/** Colours from the page's CSS variables, read at draw time so that light and dark both work. */
function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (name) => css.getPropertyValue(name).trim();
  return {
    fg: v('--fg'),
    muted: v('--muted'),
    line: v('--line'),
    accent: v('--accent'),
    series: [v('--c1'), v('--c2'), v('--c3'), v('--c4'), v('--c5')],
    mark: v('--mark'),
    grid: v('--mark-grid'),
  };
}

function axes(colors, xLabel, yLabel, { xValues, yValues } = {}) {
  const axis = (label, values) => ({
    label,
    stroke: colors.muted,
    grid: { stroke: colors.line, width: 1 },
    ticks: { stroke: colors.line, width: 1 },
    labelSize: 16,
    labelGap: 0,
    gap: 3,
    font: '11px system-ui, sans-serif',
    labelFont: '12px system-ui, sans-serif',
    ...(values ? { values } : {}),
  });
  return [{ ...axis(xLabel, xValues), size: 30 }, { ...axis(yLabel, yValues), size: 56 }];
}

const shortNumber = (u, splits) => splits.map((v) => (v === null ? '' : fmt.scientific(v)));
/** Log-axis ticks are powers of ten and their multiples: 0.5, 20, 1e-4 read better than 1.000e-4. */
const logNumber = (u, splits) => splits.map((v) => {
  if (v === null) return '';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e4 ? String(Number(v.toPrecision(3))) : Number(v.toPrecision(2)).toExponential().replace('e+', 'e');
});

/** One uPlot per container, replaced on each draw and resized with its container. */
const charts = new WeakMap();
const resizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const chart = charts.get(entry.target);
    const width = Math.floor(entry.contentRect.width);
    if (chart && width > 0 && Math.abs(chart.width - width) > 1) chart.setSize({ width, height: chart.height });
  }
});

function mount(container, options, data) {
  charts.get(container)?.destroy();
  const width = Math.max(240, Math.floor(container.clientWidth || 480));
  const chart = new uPlot({ width, height: 220, ...options }, data, container);
  charts.set(container, chart);
  resizer.observe(container);
  return chart;
}

export function clear(container) {
  charts.get(container)?.destroy();
  charts.delete(container);
  container.replaceChildren();
}

/** Vertical lines at data values, each { value, color, dash, label }, drawn after the series. */
function markers(marks) {
  return (u) => {
    const { ctx } = u;
    const { top, height, left, width } = u.bbox;
    ctx.save();
    ctx.font = `${Math.round(11 * devicePixelRatio)}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    ctx.textAlign = 'left'; // uPlot leaves whatever its last axis label used
    for (const mark of marks) {
      const x = Math.round(u.valToPos(mark.value, 'x', true));
      if (x < left - 1 || x > left + width + 1) continue;
      ctx.strokeStyle = mark.color;
      ctx.fillStyle = mark.color;
      ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.setLineDash((mark.dash ?? []).map((d) => d * devicePixelRatio));
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      if (mark.label) {
        const w = ctx.measureText(mark.label).width;
        const right = x + 4 + w < left + width;
        ctx.fillText(mark.label, right ? x + 4 : x - 4 - w, top + 4 + (mark.row ?? 0) * 14 * devicePixelRatio);
      }
    }
    ctx.restore();
  };
}

/**
 * A histogram from the core: { lo, hi, counts }. Bars at bin centres; `log` puts the counts on a
 * log scale (empty bins then drop out); `marks` are vertical lines (ranges).
 */
export function histogram(container, hist, { log = false, marks = [], xLabel = 'value', color } = {}) {
  const colors = palette();
  const bins = hist.counts.length;
  const width = (hist.hi - hist.lo) / bins;
  const xs = hist.counts.map((_, i) => hist.lo + (i + 0.5) * width);
  const ys = hist.counts.map((c) => (log && c === 0 ? null : c));
  let [xMin, xMax] = [hist.lo, hist.hi];
  for (const m of marks) {
    xMin = Math.min(xMin, m.value);
    xMax = Math.max(xMax, m.value);
  }
  const pad = (xMax - xMin) * 0.02 || Math.abs(xMin) * 0.1 || 1;
  const chart = mount(
    container,
    {
      legend: { show: false },
      cursor: { drag: { x: true, y: false }, points: { show: false } },
      scales: {
        x: { time: false, range: () => [xMin - pad, xMax + pad] },
        y: log ? { distr: 3, range: (u, min, max) => [1, Math.max(10, max * 2)] } : { range: (u, min, max) => [0, Math.max(1, max * 1.05)] },
      },
      axes: axes(colors, xLabel, log ? 'count (log)' : 'count', { xValues: shortNumber }),
      series: [
        {},
        {
          label: 'count',
          fill: color ?? colors.accent,
          stroke: color ?? colors.accent,
          width: 0,
          paths: uPlot.paths.bars({ size: [1, Infinity], gap: 0, align: 0 }),
          points: { show: false },
        },
      ],
      hooks: { draw: [markers(marks)] },
    },
    [xs, ys],
  );
  container.dataset.bins = String(bins);
  return chart;
}

/** Every slot's scale against its index (per channel: the channel; per group: the group in memory order). */
export function scales(container, slots) {
  const colors = palette();
  const xs = slots.scales.map((_, i) => i);
  return mount(
    container,
    {
      legend: { show: false },
      cursor: { points: { show: true } },
      scales: { x: { time: false }, y: { range: (u, min, max) => [0, max * 1.08 || 1] } },
      axes: axes(colors, slots.granularity.startsWith('group') ? 'group (row-major)' : slots.granularity.startsWith('channel') ? 'channel' : 'slot', 'scale', { yValues: shortNumber }),
      series: [
        {},
        {
          label: 'scale',
          stroke: colors.accent,
          width: xs.length > 200 ? 1 : 1.5,
          points: { show: xs.length <= 64, size: 5, fill: colors.accent },
        },
      ],
    },
    [xs, slots.scales],
  );
}

const GRANULARITY_ORDER = ['tensor', 'channel:0', 'group:128', 'group:64', 'group:32'];

/** How the Pareto legend names a family of formats that are no integer spec. */
const FAMILY_NAMES = { block: 'FP8 / MX / NVFP4 / NF4', ggml: 'ggml types' };

/**
 * The Pareto view: bits per weight (x) against SQNR in dB (y) for every row of a sweep. One colour per
 * granularity; symmetric points filled, asymmetric hollow; the front (from the core's `pareto` flags)
 * joined by a line; `highlight` configs (the comparison's columns) ringed. Rows with a `family` (FP8,
 * MX, NVFP4, NF4, ggml types) are a filled series per family.
 */
export function pareto(container, rows, { highlight = new Set() } = {}) {
  const colors = palette();
  const finite = rows.filter((r) => Number.isFinite(fmt.numeric(r.sqnr_db)));
  const xs = [...new Set(finite.map((r) => r.bits_per_weight))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  // A series has one point per x: where two of its rows share a bits per weight (FP8 E4M3 and E5M2),
  // the higher SQNR is drawn (the other is dominated).
  const column = (pick) => {
    const ys = new Array(xs.length).fill(null);
    for (const r of finite.filter(pick)) {
      const i = at.get(r.bits_per_weight);
      ys[i] = Math.max(ys[i] ?? -Infinity, fmt.numeric(r.sqnr_db));
    }
    return ys;
  };
  const series = [{}];
  const data = [xs];
  const granularities = GRANULARITY_ORDER.filter((g) => finite.some((r) => !r.family && r.granularity === g));
  granularities.forEach((g, i) => {
    const color = colors.series[i % colors.series.length];
    for (const scheme of ['sym', 'asym']) {
      series.push({
        label: `${scheme} ${g}`,
        stroke: color,
        width: 0,
        paths: () => null,
        points: { show: true, size: 8, width: 1.5, stroke: color, fill: scheme === 'sym' ? color : 'transparent', space: 0 },
      });
      data.push(column((r) => !r.family && r.granularity === g && r.scheme === scheme));
    }
  });
  // The formats with their own scales (FP8, MX, NVFP4, NF4; ggml types): a series per family, larger
  // points ringed in the text colour (the granularity colours are all taken), filled with the accent or the text colour.
  const families = [...new Set(finite.filter((r) => r.family).map((r) => r.family))];
  families.forEach((family, i) => {
    const fill = i % 2 === 0 ? colors.accent : colors.fg;
    series.push({
      label: FAMILY_NAMES[family] ?? family,
      stroke: colors.fg,
      fill,
      width: 0,
      paths: () => null,
      points: { show: true, size: 10, width: 2, stroke: colors.fg, fill, space: 0 },
    });
    data.push(column((r) => r.family === family));
  });
  series.push({ label: 'Pareto front', stroke: colors.fg, width: 1.5, dash: [4, 3], spanGaps: true, points: { show: false } });
  data.push(column((r) => r.pareto));
  const ringed = finite.filter((r) => highlight.has(r.config));
  const ring = (u) => {
    const { ctx } = u;
    ctx.save();
    ctx.strokeStyle = colors.fg;
    ctx.lineWidth = 1.5 * devicePixelRatio;
    for (const r of ringed) {
      const x = u.valToPos(r.bits_per_weight, 'x', true);
      const y = u.valToPos(fmt.numeric(r.sqnr_db), 'y', true);
      ctx.beginPath();
      ctx.arc(x, y, 8 * devicePixelRatio, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.restore();
  };
  const chart = mount(
    container,
    {
      height: 260,
      legend: { show: true, live: false },
      cursor: { points: { show: false } },
      scales: { x: { time: false }, y: {} },
      axes: axes(colors, 'bits per weight', 'SQNR (dB)'),
      series,
      hooks: { draw: [ring] },
    },
    data,
  );
  container.dataset.points = String(finite.length);
  return chart;
}

/**
 * Searched curves of the calibration methods, each { label, thresholds, values, best, color }: threshold (x)
 * against the searched metric (y, log scale). The curves have their own thresholds, so they share one x
 * array where a curve without a point is `undefined` (uPlot spans it) and an infinite metric is `null` (a
 * gap). Each curve's chosen threshold is a vertical line in its colour, labelled.
 */
export function curves(container, list, { xLabel = 'threshold', yLabel = 'metric' } = {}) {
  const colors = palette();
  const xs = [...new Set(list.flatMap((c) => c.thresholds))].sort((a, b) => a - b);
  const at = new Map(xs.map((x, i) => [x, i]));
  const data = [xs];
  const marks = [];
  list.forEach((c, row) => {
    const ys = new Array(xs.length).fill(undefined);
    c.thresholds.forEach((t, i) => {
      const v = c.values[i];
      ys[at.get(t)] = typeof v === 'number' && v > 0 ? v : null; // log scale: no point at 0 or ∞
    });
    data.push(ys);
    if (c.best !== null && c.best !== undefined) {
      const t = c.thresholds[c.best];
      marks.push({ value: t, color: c.color, dash: [5, 3], label: `${c.short ? `${c.short} ` : ''}${fmt.scientific(t)}`, row });
    }
  });
  const chart = mount(
    container,
    {
      height: 200,
      legend: { show: list.length > 1, live: false },
      cursor: { points: { show: false }, drag: { x: true, y: false } },
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: axes(colors, xLabel, yLabel, { xValues: shortNumber, yValues: logNumber }),
      series: [{}, ...list.map((c) => ({ label: c.label, stroke: c.color, width: 1.5, points: { show: false } }))],
      hooks: { draw: [markers(marks)] },
    },
    data,
  );
  container.dataset.curves = JSON.stringify(list.map((c) => ({ label: c.label, points: c.thresholds.length, chosen: c.best === null || c.best === undefined ? null : c.thresholds[c.best] })));
  return chart;
}

/** Redraws everything when the colour scheme changes (the canvas does not follow CSS by itself). */
export function onThemeChange(redraw) {
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', redraw);
}
