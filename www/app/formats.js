// The number formats as the core serves them (src/quant/format.rs): the default columns, the presets, the
// bit widths an integer spec may take, each label's title, and the label of any spec. The core writes and
// parses every label. These are pure functions of the module, asked synchronously (a settings change
// relabels the page at once), so the page runs its own small instance of the module for them; the work
// itself stays in the worker, which hands the page the module it compiled (no second download).

/** The page's instance of the worker's module (its glue evaluated as a blob: module), then its formats. */
export async function loadFormats(run) {
  const { module, glue } = await run('moduleForPage');
  const url = URL.createObjectURL(new Blob([glue], { type: 'text/javascript' }));
  try {
    const core = await import(/* @vite-ignore */ url);
    await core.default({ module_or_path: module });
    return createFormats(core);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** The formats of `core` (the module's exports: number_formats, describe_format, format_label). */
export function createFormats(core) {
  const list = JSON.parse(core.number_formats());
  const described = new Map(list.map((f) => [f.label, f])); // label → { label, title, note, family, bits_per_weight, spec }
  const labels = new Map(); // JSON of a spec → its label
  const int = list.find((f) => f.family === 'int' && f.bits_range);
  const [minBits, maxBits] = int?.bits_range ?? [];
  const formats = {
    list,
    /** The float columns every comparison starts with (FP32 first, the reference). */
    floats: list.filter((f) => f.family === 'float' && f.default_column).map((f) => f.label),
    /** The widths of the default integer columns (INT8, INT4): they take the form's scheme and granularity. */
    headlineBits: list.filter((f) => f.family === 'int' && f.default_column).map((f) => f.spec.bits),
    /** [{ name, title, label, spec }] for the preset buttons. */
    presets: list.filter((f) => f.preset).map((f) => ({ name: f.preset, title: f.title, label: f.label, spec: f.spec })),
    /** The bit widths of an integer spec, in order. */
    bits: minBits === undefined ? [] : Array.from({ length: maxBits - minBits + 1 }, (_, i) => minBits + i),

    /** What `label` names, from the core; throws the core's message for a label that is no format. */
    describe(label) {
      if (!described.has(label)) described.set(label, JSON.parse(core.describe_format(label)));
      return described.get(label);
    },

    /** What `label` names, or null when it is no format. */
    known(label) {
      try {
        return formats.describe(label);
      } catch {
        return null;
      }
    },

    /** [title, note] of a label, e.g. ["INT8", "sym channel:0"]; null when it is no format. */
    title(label) {
      const f = formats.known(label);
      return f ? [f.title, f.note] : null;
    },

    /** The core's label of a spec. */
    label(spec) {
      const key = JSON.stringify([spec.bits, spec.scheme, spec.full_range, spec.granularity, spec.scale_dtype]);
      if (!labels.has(key)) labels.set(key, core.format_label(JSON.stringify(spec)));
      return labels.get(key);
    },
  };
  return formats;
}

