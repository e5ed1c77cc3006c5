// The configuration as the page holds it: the settings form's values, the spec the core reads from them
// (`{ bits, scheme, full_range, granularity, scale_dtype }`, src/quant QuantSpec as JSON), and the page's
// state in the URL query (never the weights). Labels are the core's (number formats, www/app/formats.js);
// this file never writes or parses one.

/** The form before anything is chosen: INT8 symmetric per output channel. */
export const DEFAULT_FORM = { bits: 8, scheme: 'symmetric', range: 'narrow', granularity: 'channel', groupSize: 32, scaleDtype: 'f32' };

/** Form values ({ bits, scheme, range, granularity, groupSize, scaleDtype }) → { spec } or { error }. */
export function specOf(values) {
  const v = { ...DEFAULT_FORM, ...values };
  let granularity = v.granularity === 'channel' ? 'channel:0' : 'tensor';
  if (v.granularity === 'group') {
    const size = Number(v.groupSize);
    if (!Number.isInteger(size) || size < 1) return { error: `Group size: "${v.groupSize}" is not a whole number of at least 1.` };
    granularity = `group:${size}`;
  }
  const symmetric = v.scheme === 'symmetric';
  return { spec: { bits: Number(v.bits), scheme: v.scheme, full_range: symmetric && v.range === 'full', granularity, scale_dtype: v.scaleDtype } };
}

/** A spec as form values (the inverse of specOf). */
export function formOf(spec) {
  const values = {
    bits: spec.bits,
    scheme: spec.scheme,
    range: spec.full_range ? 'full' : 'narrow',
    granularity: spec.granularity.startsWith('channel') ? 'channel' : spec.granularity.startsWith('group') ? 'group' : 'tensor',
    scaleDtype: spec.scale_dtype,
  };
  const group = /^group:(\d+)$/.exec(spec.granularity);
  values.groupSize = group ? Number(group[1]) : DEFAULT_FORM.groupSize;
  return values;
}

/** How a calibration method reads on the page (the core lists the methods; unknown ones show their id). */
const METHOD_NAMES = { minmax: 'min-max', 'percentile:99.99': 'percentile 99.99', mse: 'MSE', entropy: 'entropy (KL, ORT)', 'entropy:trt': 'entropy (KL, TensorRT)' };
export const methodName = (m) => METHOD_NAMES[m] ?? m;

/**
 * What the URL query holds: form values, the added columns' labels (the core reads them), and the
 * view choices. Only the query's shape is checked here; the core checks what the values mean.
 */
export function readQuery(search) {
  const q = new URLSearchParams(search);
  const out = { form: {}, added: [], view: {} };
  const bits = Number(q.get('bits'));
  if (q.has('bits') && Number.isInteger(bits)) out.form.bits = bits;
  if (['sym', 'asym'].includes(q.get('scheme'))) out.form.scheme = q.get('scheme') === 'sym' ? 'symmetric' : 'asymmetric';
  if (['narrow', 'full'].includes(q.get('range'))) out.form.range = q.get('range');
  const g = q.get('granularity') ?? '';
  if (g === 'tensor' || g === 'channel') out.form.granularity = g;
  const group = /^group:([1-9]\d*)$/.exec(g);
  if (group) Object.assign(out.form, { granularity: 'group', groupSize: Number(group[1]) });
  if (['f32', 'f16'].includes(q.get('scales'))) out.form.scaleDtype = q.get('scales');
  if (q.get('calibration')) out.form.calibration = q.get('calibration');
  out.added = q.getAll('add').map((label) => label.trim()).filter(Boolean);
  if (q.get('file')) out.view.file = q.get('file');
  if (q.get('tensor')) out.view.tensor = q.get('tensor');
  if (q.get('error')) out.view.error = q.get('error');
  out.view.log = q.get('log') === '1';
  if (q.get('embed')) out.view.embed = q.get('embed');
  if (q.get('view')) out.view.route = q.get('view');
  return out;
}

/**
 * The settings a query asks for, as the core reads them (`formats`: www/app/formats.js; `methods`: the
 * calibration methods it lists): what it does not recognise falls back to the defaults, an added column
 * or an error column it cannot read is left out.
 */
export function settingsFromQuery(query, formats, methods) {
  const form = { ...DEFAULT_FORM, ...query.form };
  if (!formats.bits.includes(form.bits)) form.bits = DEFAULT_FORM.bits;
  const { spec } = specOf(form);
  const added = [];
  for (const info of query.added.map(formats.known)) {
    // The float casts are columns already; an integer spec keeps its spec, any other format its label.
    if (!info || info.family === 'float' || added.some((a) => a.label === info.label)) continue;
    added.push({ label: info.label, spec: info.spec ?? null });
  }
  const error = query.view.error ? formats.known(query.view.error) : null;
  return {
    spec,
    label: formats.label(spec),
    method: methods.includes(query.form.calibration) ? query.form.calibration : methods[0],
    added,
    errorConfig: error?.spec ? error.label : null,
    log: query.view.log,
  };
}

/** The query for a state: { spec, calibration, added: [label], file, tensor, error, log, embed, route }. */
export function writeQuery({ spec, calibration, added, file, tensor, error, log, embed, route }) {
  const q = new URLSearchParams();
  if (file) q.set('file', file);
  if (tensor) q.set('tensor', tensor);
  if (spec) {
    q.set('bits', String(spec.bits));
    q.set('scheme', spec.scheme === 'symmetric' ? 'sym' : 'asym');
    if (spec.scheme === 'symmetric') q.set('range', spec.full_range ? 'full' : 'narrow');
    q.set('granularity', spec.granularity === 'channel:0' ? 'channel' : spec.granularity);
    q.set('scales', spec.scale_dtype);
  }
  if (calibration) q.set('calibration', calibration);
  for (const label of added) q.append('add', label);
  if (error) q.set('error', error);
  if (log) q.set('log', '1');
  if (embed) q.set('embed', embed);
  if (route) q.set('view', route);
  return `?${q}`;
}
