// Section 4 of the walk-through: a layer of the digits model at per-tensor, per-channel and per-group
// scales, each element's error as a heatmap (lesson::granularity_of_model, `quant-playground lesson
// granularity --json`). URL: layer, bits, group.
import { $, element, latestOnly } from '../../shared/dom.js';
import { queryChoice, short } from '../../shared/lesson.js';
import '../../shared/lesson.css';
import template from './template.html?raw';
import './style.css';

const NAMES = { tensor: 'per tensor', 'channel:0': 'per output channel' };
let ui;
let ctx;

function title(granularity) {
  return NAMES[granularity] ?? granularity.replace(/^group:(\d+)$/, 'per group of $1');
}

/**
 * |error| of a rows × cols matrix as a canvas, one pixel per weight: the panel's colour (no error) to a
 * strong one (the largest error of all maps). Drawn with the longer axis across (a wide picture), so the
 * outputs run across and the inputs down when there are more outputs.
 */
function heatmap(map, rows, cols, largest) {
  const across = rows >= cols; // pixel (x, y) = weight [x, y] when true, [y, x] otherwise
  const [width, height] = across ? [rows, cols] : [cols, rows];
  const canvas = element('canvas', { width, height, role: 'img', 'aria-label': `${title(map.granularity)}: heatmap of |error| of ${rows} × ${cols} weights (${across ? 'outputs across, inputs down' : 'inputs across, outputs down'}), largest ${short(map.metrics.max_abs_err)}` });
  const g = canvas.getContext('2d');
  const image = g.createImageData(width, height);
  const [from, to] = matchMedia('(prefers-color-scheme: dark)').matches ? [[28, 31, 35], [255, 196, 120]] : [[255, 255, 255], [20, 50, 120]];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const e = map.abs_error[across ? x * cols + y : y * cols + x];
      const t = largest > 0 ? Math.sqrt(e / largest) : 0; // √ so that small errors show
      image.data.set([0, 1, 2].map((c) => Math.round(from[c] + t * (to[c] - from[c]))).concat(255), (y * width + x) * 4);
    }
  }
  g.putImageData(image, 0, 0);
  return canvas;
}

const refresh = latestOnly(async () => {
  const [layer, bits, group] = [ui.layer.value, Number(ui.bits.value), Number(ui.group.value)];
  ui.status.textContent = `Quantizing ${layer}.weight…`;
  try {
    const r = await ctx.run('lessonGranularity', [layer, bits, group]);
    const largest = Math.max(...r.maps.map((m) => m.metrics.max_abs_err));
    ui.maps.replaceChildren(
      ...r.maps.map((m) =>
        element('figure', {}, [heatmap(m, r.rows, r.cols, largest), element('figcaption', { text: `${title(m.granularity)}: ${m.scales.length} scale${m.scales.length === 1 ? '' : 's'}, SQNR ${m.metrics.sqnr_db.toFixed(2)} dB${r.rows >= r.cols ? ' (outputs across, inputs down)' : ''}` })]),
      ),
    );
    ui.table.tBodies[0].replaceChildren(
      ...r.maps.map((m) =>
        element('tr', { dataset: { granularity: m.granularity, mse: String(m.metrics.mse) } }, [
          element('th', { scope: 'row', text: title(m.granularity) }),
          element('td', { text: String(m.scales.length) }),
          element('td', { text: short(m.metrics.mse) }),
          element('td', { text: m.metrics.sqnr_db.toFixed(2) }),
          element('td', { text: short(m.metrics.max_abs_err) }),
        ]),
      ),
    );
    Object.assign(ui.table.dataset, { state: 'ready', layer, bits: String(bits), group: String(group) });
    ui.status.textContent = `${r.tensor} [${r.rows}, ${r.cols}] at INT${bits}, symmetric.`;
    ctx.clearError('lesson-granularity');
  } catch (error) {
    ctx.setError('lesson-granularity', `Granularity: ${error.message}`);
  }
});

export default {
  id: 'lesson-granularity',
  title: 'Granularity: how many values share a scale',
  route: 'lesson',
  template,
  mount(root, context) {
    ctx = context;
    ui = { layer: $('lesson-granularity-layer'), bits: $('lesson-granularity-bits'), group: $('lesson-granularity-group'), status: $('lesson-granularity-status'), maps: $('lesson-granularity-maps'), table: $('lesson-granularity-table') };
    ui.layer.value = queryChoice('layer', ['fc1', 'fc2', 'fc3'], 'fc1');
    ui.bits.value = queryChoice('lbits', [8, 4, 3, 2], '4');
    ui.group.value = queryChoice('group', [8, 16, 32, 64], '16');
    $('lesson-granularity-form').addEventListener('change', refresh);
    return refresh();
  },
  update() {},
};
