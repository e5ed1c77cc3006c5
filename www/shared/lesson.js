// What the walk-through's sections (www/views/lesson-*) share: the settings a course page puts in the
// URL (read once, before the shell rewrites the query), and a number's short form.

const query = new URLSearchParams(location.search);

/** The URL's `name` as a number, else `fallback`. */
export function queryNumber(name, fallback) {
  const v = Number(query.get(name));
  return query.has(name) && query.get(name).trim() !== '' && Number.isFinite(v) ? v : fallback;
}

/** The URL's `name` if it is one of `choices`, else `fallback`. */
export function queryChoice(name, choices, fallback) {
  const v = query.get(name);
  return choices.map(String).includes(v) ? v : fallback;
}

export function queryText(name, fallback) {
  return query.get(name) ?? fallback;
}

/** Up to 6 significant digits, in exponent form when small or large. */
export function short(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a < 1e-3 || a >= 1e6 ? v.toExponential(3) : String(Number(v.toPrecision(6)));
}

/** The SVG namespace's element with attributes. */
export function svg(tag, attrs = {}, children = []) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else node.setAttribute(k, String(v));
  }
  node.append(...children);
  return node;
}
