// The digits example: the accuracy table of every configuration of a 64→256→128→10 MLP on scikit-learn's
// 8×8 digits (the rows of `quant-playground eval --json`), the worst one's confusion matrix and mistakes,
// and a canvas where a person draws a digit and sees FP32, INT8 and INT4 predict it. The model lives in the
// worker (www/worker/example.js); this view only draws.
import { $ } from '../../shared/dom.js';
import { canvasToDigit, drawDigit, renderConfusion, renderResultsTable } from './render.js';
import template from './template.html?raw';
import './style.css';

/** The configurations a drawing goes through: the reference, the INT8 headline, and INT4 for contrast. */
const DRAW_CONFIGS = ['fp32', 'int8-static-entropy', 'int4-g32'];

let ctx;

function mount(root, context) {
  ctx = context;
  setupDrawing();
  return evaluate(); // first in the worker's queue: the accuracy table is what the page opens on
}

/** Evaluates the example in the worker and fills the table, the confusion matrix and the mistakes. */
async function evaluate() {
  const section = document.querySelector('.digits');
  const started = performance.now();
  let page;
  try {
    page = await ctx.run('digitsExample');
  } catch (error) {
    $('digits-table').querySelector('caption').textContent = 'The example could not be evaluated.';
    ctx.setError('digits', `The digits example: ${error?.message ?? error}`);
    return;
  }
  const table = $('digits-table');
  table.querySelector('caption').textContent = `${page.test_rows} test digits, ${page.rows.length} configurations, evaluated in this tab in ${Math.round(performance.now() - started)} ms`;
  renderResultsTable(table, page.rows, { worst: page.worst });
  const worst = page.rows.find((r) => r.config === page.worst);
  $('digits-worst').textContent = `— ${page.worst}, ${(worst.accuracy * 100).toFixed(2)}%`;
  renderConfusion($('digits-confusion'), page.confusion);
  $('digits-confusion').dataset.config = page.worst;
  $('digits-mistakes-of').textContent = `— ${page.worst}`;
  $('digits-mistakes').replaceChildren(...page.misclassified.map(mistake));
  section.dataset.state = 'ready';
  section.dataset.worst = page.worst;
}

function mistake(m) {
  const li = document.createElement('li');
  li.dataset.index = String(m.index);
  const canvas = Object.assign(document.createElement('canvas'), { width: 8, height: 8 });
  canvas.setAttribute('role', 'img');
  canvas.setAttribute('aria-label', `test digit ${m.index}: a ${m.label}`);
  drawDigit(canvas, m.pixels);
  const said = document.createElement('b');
  said.textContent = String(m.predicted);
  li.append(canvas, `a ${m.label}, read as `, said);
  if (m.fp32_predicted !== undefined && m.fp32_predicted !== null) {
    li.append(document.createElement('br'), m.fp32_predicted === m.label ? 'fp32: right' : `fp32 too: ${m.fp32_predicted}`);
  }
  li.title = `test digit #${m.index}`;
  return li;
}

// ---- drawing ------------------------------------------------------------------------------------------

function setupDrawing() {
  const canvas = $('digits-canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const clear = () => {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    drawDigit($('digits-seen'), new Float32Array(64));
    const table = $('digits-predictions');
    table.replaceChildren(table.querySelector('caption'));
    const tr = table.insertRow();
    const td = tr.insertCell();
    td.className = 'empty';
    td.textContent = 'Draw a digit 0–9 in the box, large and centred: FP32, INT8 and INT4 each say what they read.';
    table.dataset.state = 'empty';
  };
  clear();
  $('digits-clear').addEventListener('click', clear);

  let last = null;
  const at = (event) => {
    const r = canvas.getBoundingClientRect();
    return [((event.clientX - r.left) * canvas.width) / r.width, ((event.clientY - r.top) * canvas.height) / r.height];
  };
  const stroke = (from, to) => {
    ctx.strokeStyle = '#000';
    ctx.lineWidth = canvas.width / 11;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(...from);
    ctx.lineTo(...to);
    ctx.stroke();
  };
  canvas.addEventListener('pointerdown', (event) => {
    event.preventDefault();
    canvas.setPointerCapture?.(event.pointerId);
    last = at(event);
    stroke(last, last);
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!last) return;
    const p = at(event);
    stroke(last, p);
    last = p;
    schedulePredict();
  });
  const end = () => {
    if (!last) return;
    last = null;
    schedulePredict();
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  canvas.addEventListener('lostpointercapture', end);
}

let predicting = false;
let again = false;

/** One prediction at a time; strokes drawn meanwhile make one more with the latest drawing. */
async function schedulePredict() {
  if (predicting) {
    again = true;
    return;
  }
  predicting = true;
  try {
    do {
      again = false;
      const pixels = canvasToDigit($('digits-canvas'));
      drawDigit($('digits-seen'), pixels);
      if (!pixels.some((v) => v > 0)) continue;
      const predictions = await ctx.run('predictDigit', [DRAW_CONFIGS, pixels]);
      renderPredictions(predictions);
    } while (again);
  } catch (error) {
    ctx.setError('digits-draw', `The digits example could not read the drawing: ${error?.message ?? error}`);
  } finally {
    predicting = false;
  }
}

function renderPredictions(predictions) {
  const table = $('digits-predictions');
  table.replaceChildren(table.querySelector('caption'));
  for (const p of predictions) {
    const tr = table.insertRow();
    tr.dataset.config = p.config;
    tr.dataset.class = String(p.class);
    const th = document.createElement('th');
    th.scope = 'row';
    th.textContent = p.config;
    tr.append(th);
    const c = tr.insertCell();
    c.className = 'class';
    c.textContent = String(p.class);
    const prob = tr.insertCell();
    prob.className = 'prob';
    const share = p.probabilities[p.class];
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${Math.round(share * 4)}rem`;
    prob.append(bar, `${(share * 100).toFixed(1)}%`);
  }
  table.dataset.state = 'ready';
}

export default { id: 'digits', title: 'A trained model at FP32, INT8, INT4 and INT2: accuracy', template, mount, update() {} };
