// The digits example's tables and pictures: the accuracy table as the CLI prints it, the confusion matrix,
// a digit drawn on a canvas, and a drawing read back as the model's 64 inputs.

function formatBytes(b) {
  return b >= 10 * 1024 ? `${(b / 1024).toFixed(1)} KiB` : `${b} B`;
}

function cell(tr, text, tag = 'td') {
  const c = document.createElement(tag);
  c.textContent = text;
  tr.append(c);
  return c;
}

/**
 * Fills a <table> with config | accuracy | vs FP32 | size | compression | ms, as the CLI prints it. Each row
 * carries the raw numbers (data-config, data-accuracy, data-size-bytes, data-ms) so a test can compare them
 * with the CLI's JSON exactly; `worst` names the row to mark.
 */
export function renderResultsTable(table, rows, { worst } = {}) {
  const caption = table.querySelector('caption');
  table.replaceChildren(...(caption ? [caption] : []));
  const thead = document.createElement('thead');
  const head = document.createElement('tr');
  for (const h of ['Configuration', 'Accuracy', 'vs FP32', 'Size', 'Compression', 'Time (ms)']) {
    cell(head, h, 'th').scope = 'col';
  }
  thead.append(head);
  const body = document.createElement('tbody');
  for (const r of rows) {
    const tr = document.createElement('tr');
    Object.assign(tr.dataset, { config: r.config, accuracy: String(r.accuracy), sizeBytes: String(r.size_bytes), ms: String(r.ms) });
    const name = cell(tr, r.config, 'th');
    name.scope = 'row';
    if (r.config === worst) {
      tr.classList.add('worst');
      name.title = 'the lowest accuracy: its confusion matrix and mistakes are shown below';
    }
    cell(tr, `${(r.accuracy * 100).toFixed(2)}%`);
    const delta = Math.round(-r.drop_points * 100) / 100;
    const d = cell(tr, r.config === 'fp32' ? '–' : delta === 0 ? '0.00' : (delta > 0 ? '+' : '−') + Math.abs(delta).toFixed(2));
    if (r.config !== 'fp32' && delta < 0) d.className = 'drop';
    cell(tr, formatBytes(r.size_bytes));
    cell(tr, `${r.compression.toFixed(2)}×`);
    cell(tr, r.ms.toFixed(1)).title = 'one forward pass over the test split in this tab (best of 3)';
    body.append(tr);
  }
  table.append(thead, body);
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
  // The 32×32 binary grid over the square around the ink: a cell is on when enough of the canvas pixels
  // under it carry ink (sampling one pixel per cell misses thin strokes); then count each 4×4 block.
  const step = side / 32;
  for (let gy = 0; gy < 32; gy++) {
    for (let gx = 0; gx < 32; gx++) {
      const sx0 = Math.floor(cx - side / 2 + gx * step);
      const sy0 = Math.floor(cy - side / 2 + gy * step);
      const sx1 = Math.max(sx0 + 1, Math.floor(cx - side / 2 + (gx + 1) * step));
      const sy1 = Math.max(sy0 + 1, Math.floor(cy - side / 2 + (gy + 1) * step));
      let inked = 0;
      let seen = 0;
      for (let sy = Math.max(0, sy0); sy < Math.min(height, sy1); sy++) {
        for (let sx = Math.max(0, sx0); sx < Math.min(width, sx1); sx++) {
          seen += 1;
          if (ink[sy * width + sx] > 0.2) inked += 1;
        }
      }
      const area = (sx1 - sx0) * (sy1 - sy0); // pixels off the canvas count as blank
      if (seen && inked / area >= 0.25) out[(gy >> 2) * 8 + (gx >> 2)] += 1 / 16;
    }
  }
  return out;
}
