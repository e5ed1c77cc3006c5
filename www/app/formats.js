// The number formats as the core serves them (src/quant/format.rs number_formats): the default columns,
// the presets, the bit widths an integer spec may take, and each label's title. The core writes and parses
// every label; the page asks it once per spec or label and keeps the answer.

/** Asks the worker for the served list; returns the page's view of it. */
export async function loadFormats(run) {
  const list = await run('numberFormats');
  const described = new Map(list.map((f) => [f.label, f])); // label → { label, title, note, family, bits_per_weight, spec }
  const labels = new Map(); // JSON of a spec → its label
  const int = list.find((f) => f.family === 'int' && f.bits_range);
  const [minBits, maxBits] = int?.bits_range ?? [];
  return {
    list,
    /** The float columns every comparison starts with (FP32 first, the reference). */
    floats: list.filter((f) => f.family === 'float' && f.default_column).map((f) => f.label),
    /** The widths of the default integer columns (INT8, INT4): they take the form's scheme and granularity. */
    headlineBits: list.filter((f) => f.family === 'int' && f.default_column).map((f) => f.spec.bits),
    /** [{ name, title, label, spec }] for the preset buttons. */
    presets: list.filter((f) => f.preset).map((f) => ({ name: f.preset, title: f.title, label: f.label, spec: f.spec })),
    /** The bit widths of an integer spec, in order. */
    bits: minBits === undefined ? [] : Array.from({ length: maxBits - minBits + 1 }, (_, i) => minBits + i),

    /** What `label` names, from the core (it rejects a label that is no format with a message). */
    async describe(label) {
      if (!described.has(label)) described.set(label, await run('describeFormat', [label]));
      return described.get(label);
    },

    /** [title, note] of a label already described, e.g. ["INT8", "sym channel:0"]; null when not yet asked. */
    title(label) {
      const f = described.get(label);
      return f ? [f.title, f.note] : null;
    },

    /** The core's label of a spec. */
    async label(spec) {
      const key = JSON.stringify([spec.bits, spec.scheme, spec.full_range, spec.granularity, spec.scale_dtype]);
      if (!labels.has(key)) labels.set(key, await run('formatLabel', [spec]));
      return labels.get(key);
    },
  };
}
