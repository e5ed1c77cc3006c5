// The sweep behind the Pareto picture in pieces, for the pool of workers (www/app/fanout.js): the list of
// specs and formats for a tensor's shape, one piece's rows (a few specs, or one format), and the front.
// compare.js's `sweep` is the same work in one job; these let every worker take a share of it.

/** @param core the worker's core (www/worker/index.js) */
export default function sweepDomain(core) {
  const { callWasm, files, tensorBytes } = core;

  return {
    /** What the sweep of this tensor's shape covers: { specs, formats: [{ label, family }] }. */
    async sweepPlan(job, id, tensorName) {
      const { name, index } = files.get(id);
      const info = index.tensors.find((t) => t.name === tensorName);
      if (!info) throw new Error(`${name}: no tensor named '${tensorName}'`);
      const context = `${name}: tensor '${tensorName}'`;
      const shapeJson = JSON.stringify(info.shape);
      return {
        specs: JSON.parse(await callWasm(context, (m) => m.sweep_specs(shapeJson))),
        formats: JSON.parse(await callWasm(context, (m) => m.sweep_formats(shapeJson))),
      };
    },

    /**
     * One piece of the sweep: the rows of `specs` (sweep_tensor), or the row of one format tagged with its
     * family. The tensor's bytes stay cached here for the next piece.
     */
    async sweepPiece(job, id, tensorName, { specs, format }) {
      const { info, bytes, hint, context } = await tensorBytes(id, tensorName);
      const infoJson = JSON.stringify(info);
      if (specs) return JSON.parse(await callWasm(context, (m) => m.sweep_tensor(infoJson, bytes, JSON.stringify(specs)), hint));
      return { ...JSON.parse(await callWasm(context, (m) => m.format_tensor(infoJson, bytes, format.label), hint)), family: format.family };
    },

    /** Which of the points ([bits_per_weight, sqnr_db]) are on the Pareto front. */
    paretoFront: async (job, points) => JSON.parse(await callWasm('the Pareto front', (m) => m.pareto_front(JSON.stringify(points)))),
  };
}
