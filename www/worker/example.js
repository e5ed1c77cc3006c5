// The embedded examples: the digits MLP (a 64→256→128→10 model on scikit-learn's 8×8 digits, evaluated
// at FP32, INT8, INT4 and INT2 by the core, src/app/example) and the synthetic example file.

/** The four files of the digits example, as URLs Vite rewrites at build time. */
const EXAMPLE_FILES = {
  model: new URL('../examples/digits-mlp.safetensors', import.meta.url),
  testX: new URL('../examples/digits-test-x.npy', import.meta.url),
  testY: new URL('../examples/digits-test-y.npy', import.meta.url),
  calibX: new URL('../examples/digits-calib-x.npy', import.meta.url),
};

async function fetchBytes(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`could not load ${url} (${r.status} ${r.statusText})`);
  return new Uint8Array(await r.arrayBuffer());
}

/** @param core the worker's core (www/worker/index.js) */
export default function exampleDomain(core) {
  const { callWasm, transfer } = core;
  let exampleModel = null; // promise of the digits example's ExampleModel in the current instance
  core.onRestart(() => {
    exampleModel = null; // it lived in the old instance's memory
  });

  /** The example model in every configuration of its table (quantized and calibrated once per instance). */
  async function digitsModel() {
    await core.ready();
    exampleModel ??= Promise.all(Object.values(EXAMPLE_FILES).map(fetchBytes))
      .then(([model, testX, testY, calibX]) => new (core.instance().ExampleModel)(model, testX, testY, calibX, ''));
    return exampleModel;
  }

  return {
    /**
     * The accuracy table of every configuration as `quant-playground eval --json` prints it, plus the
     * worst configuration's confusion matrix and mistakes.
     */
    async digitsExample() {
      const model = await digitsModel();
      return JSON.parse(await callWasm('the digits example', () => model.evaluate(3, 8)));
    },

    /** One drawn digit (64 values in [0, 1]) through each of `configs`: [{ config, class, probabilities }]. */
    async predictDigit(job, configs, pixels) {
      const model = await digitsModel();
      const input = pixels instanceof Float32Array ? pixels : Float32Array.from(pixels);
      return callWasm('the digits example', () => configs.map((c) => JSON.parse(model.predict(c, input))));
    },

    /** The bytes of the digits example's weights (the page opens them in the tensor browser). */
    digitsFile: async () => transfer(await fetchBytes(EXAMPLE_FILES.model)),

    /** The synthetic example file's bytes (the page wraps them in a File and opens it like a dropped one). */
    exampleFile: async (job, seed) => transfer(await callWasm(`example ${seed}`, (m) => m.example_file(seed))),
  };
}
