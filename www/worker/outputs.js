// The Outputs view: one element y[sample, row] of y = W·x through the static INT8 pipeline, step by step
// (src/app/trace.rs), and the whole output's error per integer path.

/** @param core the worker's core (www/worker/index.js) */
export default function outputsDomain(core) {
  const { callWasm, files, tensorBytes } = core;

  return {
    /**
     * W is the tensor [n, k] (its `<prefix>.bias` from the same file is added); x is `rows` rows of a
     * synthetic distribution from `seed`, or the values of an open tensor as rows of k. The result is
     * `quant-playground trace --json`'s.
     */
    async outputsTrace(job, id, tensorName, { inputs, row, sample, method }) {
      const { index } = files.get(id);
      const { file, info, bytes, hint, context } = await tensorBytes(id, tensorName);
      const [n, ...rest] = info.shape;
      const k = rest.reduce((a, b) => a * b, 1);
      if (info.shape.length < 2 || !n || !k) throw new Error(`${context}: the Outputs view needs a weight of two or more axes, [out, in…]`);
      const biasInfo = tensorName.endsWith('.weight') ? index.tensors.find((t) => t.name === `${tensorName.slice(0, -'.weight'.length)}.bias`) : null;
      // Through tensorBytes: the stored range (a deflated .npz member, a shard, ONNX external data), not byte_len.
      const biasBytes = biasInfo ? (await tensorBytes(id, biasInfo.name, { cache: false })).bytes : null;
      let x;
      let source;
      if (inputs.kind === 'synthetic') {
        x = await callWasm(context, (q) => q.synthetic_inputs(inputs.distribution, inputs.rows, k, inputs.seed));
        source = { kind: 'synthetic', distribution: inputs.distribution, seed: inputs.seed, rows: inputs.rows };
      } else {
        const act = await tensorBytes(inputs.fileId, inputs.tensor, { cache: false });
        x = await callWasm(act.context, (q) => q.tensor_values(JSON.stringify(act.info), act.bytes), act.hint);
        source = { kind: 'file', file: act.file.name, tensor: inputs.tensor, rows: x.length / k };
      }
      const json = await callWasm(context, (q) => {
        const w = q.tensor_values(JSON.stringify(info), bytes);
        const bias = biasInfo ? q.tensor_values(JSON.stringify(biasInfo), biasBytes) : new Float32Array(0);
        return q.trace_outputs(w, n, k, bias, x, sample, row, method, false);
      }, hint);
      return { ...JSON.parse(json), file: file.name, tensor: tensorName, bias_tensor: biasInfo?.name ?? null, inputs: source };
    },
  };
}
