// The embedded example (issue 7): a 64→256→128→10 MLP on scikit-learn's 8×8 digits, evaluated live at
// FP32, INT8 (dynamic and static with four calibration methods), INT4 and INT2 by the wasm core
// (src/model, wrapped by ExampleModel in src/wasm.rs). Not wired into main.js yet: the page's owner
// decides where it goes. Two halves:
//
//   In the worker (where the wasm module lives):
//     const model = await loadExampleModel(qp);            // qp: the wasm-bindgen glue namespace
//     const page = evaluateExample(model);                  // { rows, worst, confusion, misclassified, … }
//     const p = predictDigit(model, 'int8-static-entropy', pixels64);   // { config, class, logits, probabilities }
//
//   On the page:
//     renderResultsTable(tableElement, page.rows);         // the lecture's "Results on ImageNet" layout
//     renderConfusion(tableElement, page.confusion);
//     drawDigit(canvas, m.pixels);                          // for each of page.misclassified
//     const pixels = canvasToDigit(drawingCanvas);          // a drawn digit as the model's 64 inputs
//
// The rows are exactly what `quant-playground eval --json` prints (same core, same schema).

/** The four files of the example, as URLs Vite rewrites at build time. */
export const EXAMPLE_FILES = {
  model: new URL('./examples/digits-mlp.safetensors', import.meta.url),
  testX: new URL('./examples/digits-test-x.npy', import.meta.url),
  testY: new URL('./examples/digits-test-y.npy', import.meta.url),
  calibX: new URL('./examples/digits-calib-x.npy', import.meta.url),
};

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`could not load ${url} (${r.status} ${r.statusText})`);
  return new Uint8Array(await r.arrayBuffer());
}

/**
 * Fetches the example's files and builds the model in every configuration (quantized and calibrated once).
 * `configs`: comma-separated names ("" = the whole table).
 */
export async function loadExampleModel(qp, configs = '') {
  const [model, testX, testY, calibX] = await Promise.all(
    [EXAMPLE_FILES.model, EXAMPLE_FILES.testX, EXAMPLE_FILES.testY, EXAMPLE_FILES.calibX].map(fetchBytes),
  );
  return new qp.ExampleModel(model, testX, testY, calibX, configs);
}

/** The table, the worst configuration's confusion matrix and up to `misclassified` of its mistakes. */
export function evaluateExample(model, { repeats = 3, misclassified = 8 } = {}) {
  return JSON.parse(model.evaluate(repeats, misclassified));
}

/** One digit (64 values in [0, 1]) through one configuration. */
export function predictDigit(model, config, pixels) {
  return JSON.parse(model.predict(config, pixels instanceof Float32Array ? pixels : Float32Array.from(pixels)));
}

// ---- page side -------------------------------------------------------------------------------------

function formatBytes(b) {
  return b >= 10 * 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`;
}

function cell(tr, text, tag = 'td') {
  const c = document.createElement(tag);
  c.textContent = text;
  tr.append(c);
  return c;
}

/** Fills a <table> with config | accuracy | vs FP32 | size | compression | ms, as the CLI prints it. */
export function renderResultsTable(table, rows) {
  table.replaceChildren();
  const head = document.createElement('tr');
  for (const h of ['Configuration', 'Accuracy', 'vs FP32', 'Size', 'Compression', 'Time (ms)']) cell(head, h, 'th');
  table.append(head);
  for (const r of rows) {
    const tr = document.createElement('tr');
    cell(tr, r.config);
    cell(tr, `${(r.accuracy * 100).toFixed(2)}%`);
    const delta = Math.round(-r.drop_points * 100) / 100;
    cell(tr, r.config === 'fp32' ? '–' : delta === 0 ? '0.00' : (delta > 0 ? '+' : '') + delta.toFixed(2));
    cell(tr, formatBytes(r.size_bytes));
    cell(tr, `${r.compression.toFixed(2)}×`);
    cell(tr, r.ms.toFixed(2));
    table.append(tr);
  }
}

/** Fills a <table> with confusion[true][predicted]; the diagonal is marked with the class "hit". */
export function renderConfusion(table, confusion) {
  table.replaceChildren();
  const head = document.createElement('tr');
  cell(head, 'true \\ predicted', 'th');
  confusion.forEach((_, j) => cell(head, String(j), 'th'));
  table.append(head);
  confusion.forEach((row, i) => {
    const tr = document.createElement('tr');
    cell(tr, String(i), 'th');
    row.forEach((n, j) => {
      const c = cell(tr, n ? String(n) : '');
      if (i === j) c.className = 'hit';
      else if (n) c.className = 'miss';
    });
    table.append(tr);
  });
}

/** Draws 8×8 values in [0, 1] (ink = 1) as dark-on-light squares filling the canvas. */
export function drawDigit(canvas, pixels, side = 8) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width / side;
  const h = canvas.height / side;
  for (let i = 0; i < side * side; i++) {
    const v = Math.round(255 * (1 - Math.min(1, Math.max(0, pixels[i]))));
    ctx.fillStyle = `rgb(${v},${v},${v})`;
    ctx.fillRect((i % side) * w, Math.floor(i / side) * h, Math.ceil(w), Math.ceil(h));
  }
}

/**
 * A drawing (dark strokes, or any opaque strokes on a transparent canvas) as the model's 64 inputs,
 * prepared like scikit-learn's digits (UCI optdigits): the ink's bounding box is scaled to fit a 32×32
 * box, centred, then each 4×4 block's ink share becomes one value (0..16 there, 0..1 here: pixels / 16).
 */
export function canvasToDigit(canvas) {
  const { width, height } = canvas;
  const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const ink = new Float32Array(width * height);
  let x0 = width, y0 = height, x1 = -1, y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = 4 * (y * width + x);
      const lum = (data[o] + data[o + 1] + data[o + 2]) / (3 * 255);
      const v = (data[o + 3] / 255) * (1 - lum);
      ink[y * width + x] = v;
      if (v > 0.2) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
  }
  const out = new Float32Array(64);
  if (x1 < 0) return out;
  const side = Math.max(x1 - x0 + 1, y1 - y0 + 1);
  const cx = (x0 + x1 + 1) / 2, cy = (y0 + y1 + 1) / 2;
  // Sample the 32×32 grid over the square around the ink, then average 4×4 blocks.
  for (let gy = 0; gy < 32; gy++) {
    for (let gx = 0; gx < 32; gx++) {
      const sx = Math.floor(cx - side / 2 + ((gx + 0.5) * side) / 32);
      const sy = Math.floor(cy - side / 2 + ((gy + 0.5) * side) / 32);
      const on = sx >= 0 && sy >= 0 && sx < width && sy < height && ink[sy * width + sx] > 0.2 ? 1 : 0;
      out[(gy >> 2) * 8 + (gx >> 2)] += on / 16;
    }
  }
  return out;
}
