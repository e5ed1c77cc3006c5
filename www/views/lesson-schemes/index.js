// Section 3 of the walk-through: symmetric against asymmetric grids on a seeded ReLU-like set, the
// codes each fills and the codes symmetric wastes (lesson::schemes, `quant-playground lesson schemes
// --json`). URL: bits, seed.
import { $, element, latestOnly } from '../../shared/dom.js';
import { queryChoice, queryNumber, short, svg } from '../../shared/lesson.js';
import '../../shared/lesson.css';
import template from './template.html?raw';
import './style.css';

const ELEMENTS = 4096; // lesson::RELU_ELEMENTS
let ui;
let ctx;
let seed;

/** The code axis qmin…qmax: each code's count as a bar (log scale), the unreachable codes shaded. */
function numberLine(grid) {
  const width = 720;
  const height = 120;
  const codes = grid.code_counts.length;
  const x = (i) => 10 + ((width - 20) * i) / codes;
  const max = Math.max(...grid.code_counts);
  const bar = (c) => (c ? (60 * Math.log1p(c)) / Math.log1p(max) : 0);
  const [lo, hi] = grid.reachable.map((q) => q - grid.qmin);
  const shapes = [];
  if (lo > 0) shapes.push(svg('rect', { class: 'wasted', x: x(0), y: 10, width: x(lo) - x(0), height: 70 }));
  if (hi < codes - 1) shapes.push(svg('rect', { class: 'wasted', x: x(hi + 1), y: 10, width: x(codes) - x(hi + 1), height: 70 }));
  grid.code_counts.forEach((c, i) => {
    if (c) shapes.push(svg('rect', { class: 'used', x: x(i), y: 80 - bar(c), width: Math.max(1, x(i + 1) - x(i) - 0.5), height: bar(c) }));
  });
  const tick = (i, label, anchor) => svg('text', { x: x(i), y: 98, 'text-anchor': anchor, text: label });
  const floatTick = (i, v, anchor) => svg('text', { x: x(i), y: 114, 'text-anchor': anchor, text: `${short(v)}` });
  const zero = grid.zero_point - grid.qmin;
  return svg(
    'svg',
    { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': `${grid.scheme} grid: codes ${grid.qmin} to ${grid.qmax}; the data reaches codes ${lo + grid.qmin} to ${hi + grid.qmin}; ${grid.wasted_codes} of ${grid.codes_total} codes are never used` },
    [
      ...shapes,
      svg('line', { class: 'axis', x1: x(0), x2: x(codes), y1: 80, y2: 80 }),
      svg('line', { class: 'axis', x1: x(zero), x2: x(zero), y1: 76, y2: 86 }),
      tick(0, zero === 0 ? `q ${grid.qmin} (x = 0)` : `q ${grid.qmin}`, 'start'),
      ...(zero > 0 && zero < codes - 1 ? [tick(zero, `${grid.zero_point} (x = 0)`, 'middle')] : []),
      tick(codes, `${grid.qmax}`, 'end'),
      floatTick(0, grid.covered[0], 'start'),
      floatTick(codes, grid.covered[1], 'end'),
    ],
  );
}

const refresh = latestOnly(async () => {
  const bits = Number(ui.bits.value);
  try {
    const s = await ctx.run('lessonSchemes', [bits, ELEMENTS, seed]);
    ui.lines.replaceChildren(
      ...s.grids.map((g) =>
        element('figure', {}, [
          element('figcaption', { text: `${g.scheme}: ${g.codes_total} codes, ${g.codes_total - g.wasted_codes} reachable by the data, ${g.wasted_codes} wasted (shaded); bars: how many values fell on each code (log scale); below, code and float value.` }),
          numberLine(g),
        ]),
      ),
    );
    ui.table.tBodies[0].replaceChildren(
      ...s.grids.map((g) =>
        element('tr', { dataset: { scheme: g.scheme, wasted: String(g.wasted_codes) } }, [
          element('th', { scope: 'row', text: g.scheme }),
          element('td', { text: String(g.scale) }),
          element('td', { text: String(g.zero_point) }),
          element('td', { text: `[${short(g.covered[0])}, ${short(g.covered[1])}]` }),
          element('td', { text: `${g.wasted_codes} of ${g.codes_total}` }),
          element('td', { text: g.metrics.sqnr_db.toFixed(2) }),
          element('td', { text: short(g.metrics.mse) }),
        ]),
      ),
    );
    Object.assign(ui.table.dataset, { state: 'ready', bits: String(bits), seed: String(seed) });
    ui.status.textContent = `${s.elements} values in [${short(s.data_range[0])}, ${short(s.data_range[1])}] (seed ${seed}).`;
    ctx.clearError('lesson-schemes');
  } catch (error) {
    ctx.setError('lesson-schemes', `Symmetric or asymmetric: ${error.message}`);
  }
});

export default {
  id: 'lesson-schemes',
  title: 'Symmetric or asymmetric quantization',
  route: 'lesson',
  template,
  mount(root, context) {
    ctx = context;
    ui = { bits: $('lesson-schemes-bits'), status: $('lesson-schemes-status'), lines: $('lesson-schemes-lines'), table: $('lesson-schemes-table') };
    ui.bits.value = queryChoice('bits', [8, 4, 3], '8');
    seed = queryNumber('seed', 42);
    ui.bits.addEventListener('change', refresh);
    return refresh();
  },
  update() {},
};
