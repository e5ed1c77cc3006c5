// How numbers read on the page. Report values arrive as JSON: numbers, the strings "inf" / "-inf", or null.

const integer = new Intl.NumberFormat('en-US');

/** A report value as a JS number (Infinity for "inf"), or null. */
export function numeric(value) {
  if (value === 'inf') return Infinity;
  if (value === '-inf') return -Infinity;
  return typeof value === 'number' ? value : null;
}

export function count(n) {
  return integer.format(n);
}

const compactNumber = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

/** 536870912 → "536.9M" (for narrow columns; put the exact count in a title). */
export function compact(n) {
  return compactNumber.format(n);
}

/** 1536 → "1.5 KiB"; exact below 1 KiB. */
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${units[unit]}`;
}

export function shape(dims) {
  return `[${dims.join(', ')}]`;
}

function infinite(v) {
  return v > 0 ? '∞' : '−∞';
}

/** Errors span many decades: scientific unless the value reads well as a plain decimal. */
export function scientific(v) {
  if (!Number.isFinite(v)) return infinite(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e4 ? String(Number(v.toPrecision(4))) : v.toExponential(3);
}

export function fixed(digits) {
  return (v) => (Number.isFinite(v) ? v.toFixed(digits) : infinite(v));
}

/** Cosines crowd next to 1: 0.99999998 reads as "1 − 2.0e-8". */
export function cosine(v) {
  if (v === 1) return '1';
  const gap = 1 - v;
  return gap > 0 && gap < 1e-3 ? `1 − ${gap.toExponential(1)}` : v.toFixed(4);
}

export function percent(share) {
  if (share === 0) return '0 %';
  const p = share * 100;
  return `${p >= 1 ? p.toFixed(2) : Number(p.toPrecision(2))} %`;
}

/** Durations: 0.042 → "42 µs", 12.3 → "12.3 ms", 4200 → "4.20 s". */
export function milliseconds(ms) {
  if (!Number.isFinite(ms)) return '—';
  if (ms === 0) return '< 0.1 ms'; // the browser's timer resolution
  if (ms < 1) return `${Math.round(ms * 1000)} µs`;
  if (ms < 1000) return `${Number(ms.toPrecision(3))} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

/** W [n, k] as the kernels see it: the first axis is the output, the others flatten into k; null for one axis. */
export function matrixOf(dims) {
  if (dims.length < 2) return null;
  const [n, ...rest] = dims;
  const k = rest.reduce((a, b) => a * b, 1);
  return n > 0 && k > 0 ? { n, k } : null;
}

/** The chosen tensor ({ file, info, tensor }) as a matmul weight: { fileId, file, tensor, shape, matrix }, or null. */
export function weightOf(selection) {
  if (!selection) return null;
  const { file, info, tensor } = selection;
  return { fileId: file.id, file: file.name, tensor, shape: info.shape, matrix: matrixOf(info.shape) };
}
