// The walk-through's sections (src/app/lesson.rs through src/wasm/lesson.rs): each answers what
// `quant-playground lesson SECTION --json` prints. The calibration section's set stays here, so that
// dragging the threshold re-measures the same values without making them again.

const DIGITS_MODEL = new URL('../examples/digits-mlp.safetensors', import.meta.url);

/** @param core the worker's core (www/worker/index.js) */
export default function lessonDomain(core) {
  const { callWasm } = core;
  let outliers = null; // { key, x: Float32Array } of the last outlier set made
  let model = null; // promise of the digits model's bytes

  function outlierSet(elements, seed) {
    const key = `${elements}:${seed}`;
    if (outliers?.key !== key) outliers = { key, x: null };
    return outliers;
  }

  async function outlierValues(elements, seed) {
    const set = outlierSet(elements, seed);
    set.x ??= await callWasm('the outlier set', (q) => q.lesson_outlier_set(elements, seed));
    return set.x;
  }

  return {
    lessonTypes: (job, value, range) => callWasm('the data types', (q) => JSON.parse(q.lesson_types(value, range))),

    lessonFormula: (job, values, bits, scheme, scale, zeroPoint) =>
      callWasm('the formula', (q) => JSON.parse(q.lesson_formula(Float32Array.from(values), bits, scheme, scale ?? NaN, zeroPoint ?? NaN))),

    lessonSchemes: (job, bits, elements, seed) => callWasm('the scheme comparison', (q) => JSON.parse(q.lesson_schemes(bits, elements, seed))),

    async lessonGranularity(job, layer, bits, group) {
      model ??= fetch(DIGITS_MODEL).then(async (r) => {
        if (!r.ok) throw new Error(`could not load ${DIGITS_MODEL} (${r.status} ${r.statusText})`);
        return new Uint8Array(await r.arrayBuffer());
      });
      const bytes = await model.catch((error) => {
        model = null;
        throw error;
      });
      return callWasm('the granularity maps', (q) => JSON.parse(q.lesson_granularity('digits-mlp.safetensors', bytes, layer, bits, group)));
    },

    async lessonCalibration(job, bits, elements, seed) {
      const x = await outlierValues(elements, seed);
      return callWasm('the calibration section', (q) => JSON.parse(q.lesson_calibration(x, bits)));
    },

    async lessonClipPoint(job, bits, elements, seed, threshold) {
      const x = await outlierValues(elements, seed);
      return callWasm('the clipping threshold', (q) => JSON.parse(q.lesson_clip_point(x, bits, threshold)));
    },
  };
}
