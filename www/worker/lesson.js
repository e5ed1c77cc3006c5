// The walk-through's sections (src/app/lesson.rs through src/wasm/lesson.rs): each answers what
// `quant-playground lesson SECTION --json` prints. The calibration section's set stays here, so that
// dragging the threshold re-measures the same values without making them again. Section 6's real
// networks are measured by the whole-model view's own worker code (www/worker/ptq.js) on its own open
// model, so the walk-through and the PTQ view never share state.
import ptqDomain from './ptq.js';

const DIGITS_MODEL = new URL('../examples/digits-mlp.safetensors', import.meta.url);

/**
 * Section 6's plan for each embedded PTQ model: the calibration methods and the variants it measures.
 * The CNN: static INT8 by three calibrations, per tensor and per channel (u8 activations), against its
 * labels. The transformer: dynamic against static INT8, agreement and cosine with FP32 (no labels).
 */
const PTQ_PLANS = {
  'textline-cls': {
    methods: ['minmax', 'entropy', 'percentile'],
    variants: ['minmax', 'entropy', 'percentile'].flatMap((method) => ['tensor', 'channel'].map((granularity) => ({ kind: 'static', method, granularity, activations: 'u8' }))),
  },
  'paraphrase-minilm': {
    methods: ['minmax'],
    variants: [
      { kind: 'dynamic', granularity: 'tensor' },
      { kind: 'dynamic', granularity: 'channel' },
      { kind: 'static', method: 'minmax', granularity: 'tensor', activations: 'u8' },
      { kind: 'static', method: 'minmax', granularity: 'channel', activations: 'u8' },
    ],
  },
};

/** @param core the worker's core (www/worker/index.js) */
export default function lessonDomain(core) {
  const { callWasm } = core;
  let outliers = null; // { key, x: Float32Array } of the last outlier set made
  let model = null; // promise of the digits model's bytes
  let ptq = null; // the walk-through's own whole-model domain

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

    /**
     * Section 6: an embedded PTQ model (`key` of PTQ_PLANS) at FP32 and each planned variant, opened,
     * calibrated and run by onnxruntime-web in this worker. `job.partial` keeps the rows measured so far.
     */
    async lessonPtqResults(job, key) {
      const plan = PTQ_PLANS[key];
      if (!plan) throw new Error(`no walk-through plan for the model '${key}' (there are ${Object.keys(PTQ_PLANS).join(', ')})`);
      ptq ??= ptqDomain(core);
      const opened = await ptq.ptqOpenEmbedded(job, key);
      const pick = (r) => ({ label: r.label, bytes: r.bytes, accuracy: r.accuracy, top1_agreement: r.top1_agreement, neighbour_agreement: r.neighbour_agreement, sqnr_db: r.sqnr_db, cosine: r.cosine });
      const rows = [{ label: 'FP32', bytes: opened.bytes, accuracy: opened.fp32.accuracy, top1_agreement: 1, neighbour_agreement: opened.fp32.neighbours ? 1 : null, sqnr_db: Infinity, cosine: 1 }];
      job.partial = { key, labels: opened.labels, evaluationSamples: opened.evaluationSamples, rows };
      await ptq.ptqCalibrate(job, plan.methods, {});
      for (const variant of plan.variants) rows.push(pick(await ptq.ptqVariant(job, variant)));
      return job.partial;
    },

    async lessonClipPoint(job, bits, elements, seed, threshold) {
      const x = await outlierValues(elements, seed);
      return callWasm('the clipping threshold', (q) => JSON.parse(q.lesson_clip_point(x, bits, threshold)));
    },
  };
}
