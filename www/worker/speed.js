// The speed panel: y = W·x for W [n, k] (the tensor, its first axis the output) and x [m, k] from a seeded
// N(0, 1), by the FP32, INT8 (dynamic, per-row u8 activations), INT4 (g32), MXFP4 and NF4 (decoded on the
// fly) kernels, each output with its checksum (src/app/speed.rs output_checksum). How they are timed
// (warm-up, calls per run, runs, the median) is the core's policy (src/app/speed.rs); the module runs one
// step of it per call and the job loop lets a cancel in between two.

/** @param core the worker's core (www/worker/index.js) */
export default function speedDomain(core) {
  const { callWasm, free, tensorBytes } = core;

  return {
    async speed(job, id, tensorName, { m, seed }) {
      const { info, bytes, hint, context } = await tensorBytes(id, tensorName);
      const [n, ...rest] = info.shape;
      const k = rest.reduce((a, b) => a * b, 1);
      if (info.shape.length < 2 || !n || !k) throw new Error(`${context}: the speed panel needs a weight of two or more axes, [out, in…]`);
      const bench = await callWasm(context, (q) => new q.SpeedBench(q.tensor_values(JSON.stringify(info), bytes), n, k, m, seed), hint);
      try {
        const steps = bench.steps();
        for (let i = 0; i < steps; i++) {
          await callWasm(context, () => bench.step(i), hint);
          await job.step(i + 1, steps);
        }
        const result = JSON.parse(await callWasm(context, () => bench.report()));
        return { ...result, seed, build: core.instance().kernel_build() };
      } finally {
        free(bench);
      }
    },
  };
}
