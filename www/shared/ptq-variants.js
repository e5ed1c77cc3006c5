// The quantized copies the whole-model PTQ view (www/views/ptq) has built, for the Download panel
// (www/views/export), which offers them as targets (issue 12: "Downloadable (the existing Download
// panel)"). A view never imports another, so the list lives here. Only names travel: the bytes stay in
// the worker (www/worker/ptq.js open.variants) and both views fetch them with ptqModelBytes.

let built = { model: null, labels: [] };
const listeners = new Set();

/** The PTQ view: `model` (the open ONNX file's name) now has these variant labels, in table order. */
export function publishPtqVariants(model, labels) {
  built = { model, labels: [...labels] };
  for (const listener of listeners) listener(built);
}

/** { model, labels }: what is built now. */
export const ptqVariants = () => built;

/** Calls `listener({ model, labels })` whenever the list changes. */
export function onPtqVariants(listener) {
  listeners.add(listener);
}

/** The download's file name, the same from the row button and the panel: model.static-INT8-minmax-per-channel.onnx */
export function ptqFileName(model, label) {
  return `${model.replace(/\.onnx$/, '')}.${label.replace(/[^\w]+/g, '-').replace(/-+$/, '')}.onnx`;
}
