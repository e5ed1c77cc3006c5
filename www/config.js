// The configuration as the page holds it: a spec the core reads (src/quant QuantSpec as JSON), its
// label (the same text as QuantSpec::label), and the page's state in the URL query (never the weights).

/** spec → "int8 sym channel:0", "int4 asym group:32 f16-scales", "int8 sym tensor full" (as the core labels it). */
export function specLabel(spec) {
  const symmetric = spec.scheme === 'symmetric';
  let label = `int${spec.bits} ${symmetric ? 'sym' : 'asym'} ${spec.granularity}`;
  if (spec.full_range && symmetric) label += ' full';
  if (spec.scale_dtype === 'f16') label += ' f16-scales';
  return label;
}

/** The inverse of specLabel, or null when the text is not such a label. */
export function parseLabel(label) {
  const m = /^int([2-8]) (sym|asym) (tensor|channel:\d+|group:[1-9]\d*)((?: full| f16-scales)*)$/.exec(String(label).trim());
  if (!m) return null;
  return {
    bits: Number(m[1]),
    scheme: m[2] === 'sym' ? 'symmetric' : 'asymmetric',
    full_range: m[2] === 'sym' && m[4].includes(' full'),
    granularity: m[3],
    scale_dtype: m[4].includes('f16-scales') ? 'f16' : 'f32',
  };
}

export const PRESETS = {
  // The common weight settings: INT8 per output channel (symmetric, as TensorRT and PyTorch do for weights),
  // INT4 in groups of 32 with a zero point (as GPTQ / AWQ checkpoints store it).
  int8: { bits: 8, scheme: 'symmetric', range: 'narrow', granularity: 'channel', groupSize: 32, scaleDtype: 'f32' },
  int4: { bits: 4, scheme: 'asymmetric', range: 'narrow', granularity: 'group', groupSize: 32, scaleDtype: 'f32' },
};

/** What the URL query holds, read back as form values and view choices. */
export function readQuery(search) {
  const q = new URLSearchParams(search);
  const out = { form: {}, added: [], view: {} };
  const bits = Number(q.get('bits'));
  if (Number.isInteger(bits) && bits >= 2 && bits <= 8) out.form.bits = bits;
  if (['sym', 'asym'].includes(q.get('scheme'))) out.form.scheme = q.get('scheme') === 'sym' ? 'symmetric' : 'asymmetric';
  if (['narrow', 'full'].includes(q.get('range'))) out.form.range = q.get('range');
  const g = q.get('granularity') ?? '';
  if (g === 'tensor' || g === 'channel') out.form.granularity = g;
  const group = /^group:([1-9]\d*)$/.exec(g);
  if (group) Object.assign(out.form, { granularity: 'group', groupSize: Number(group[1]) });
  if (['f32', 'f16'].includes(q.get('scales'))) out.form.scaleDtype = q.get('scales');
  if (q.get('calibration')) out.form.calibration = q.get('calibration');
  for (const label of q.getAll('add')) if (parseLabel(label)) out.added.push(parseLabel(label));
  if (q.get('file')) out.view.file = q.get('file');
  if (q.get('tensor')) out.view.tensor = q.get('tensor');
  if (parseLabel(q.get('error'))) out.view.error = q.get('error');
  out.view.log = q.get('log') === '1';
  return out;
}

/** The query for a state: { spec, calibration, added: [spec], file, tensor, error, log }. */
export function writeQuery({ spec, calibration, added, file, tensor, error, log }) {
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
  for (const a of added) q.append('add', specLabel(a));
  if (error) q.set('error', error);
  if (log) q.set('log', '1');
  return `?${q}`;
}
