// The values tfjs-core itself reads from TF.js models: each model.json / weights manifest's shards are
// concatenated in manifest order, every group's after the previous one's, as tfjs's loader hands them
// to decodeWeights (tfjs-core/src/io/http.ts loadWeights, io_utils.ts decodeWeights), and each
// float32 weight (and each int32 weight stored quantized) is written as little-endian float32 to
// SUITE/expected/<model>.<weight>.f32, listed in SUITE/manifest.json as scripts/check_convert.py reads it.
//
//   node scripts/tfjs_decode_reference.mjs SUITE MODEL.json [MODEL.json …]   (run by make_tfjs_fixtures.py)
import fs from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

const [suite, ...models] = process.argv.slice(2);
await tf.setBackend('cpu');
const expectedDir = path.join(suite, 'expected');
fs.mkdirSync(expectedDir, { recursive: true });
const listing = { tfjs_core: JSON.parse(fs.readFileSync(new URL('../node_modules/@tensorflow/tfjs-core/package.json', import.meta.url))).version, files: {} };

for (const model of models) {
  const file = path.join(suite, model);
  const json = JSON.parse(fs.readFileSync(file, 'utf8'));
  const manifest = Array.isArray(json) ? json : json.weightsManifest;
  const specs = manifest.flatMap((group) => group.weights);
  const buffers = manifest.flatMap((group) => group.paths).map((p) => new Uint8Array(fs.readFileSync(path.join(path.dirname(file), p))));
  const tensors = tf.io.decodeWeights(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)), specs);
  const entries = {};
  for (const spec of specs) {
    const t = tensors[spec.name];
    if (t.dtype !== 'float32' && !(t.dtype === 'int32' && spec.quantization)) continue;
    // A Float32Array keeps NaN payloads as decodeWeight wrote them (its float16 tables do not quiet them).
    const values = t.dtype === 'float32' ? t.dataSync() : Float32Array.from(t.dataSync());
    const key = `${model}.${spec.name}`.replace(/[/\\]/g, '_');
    fs.writeFileSync(path.join(expectedDir, `${key}.f32`), Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    entries[spec.name] = { expected: `${key}.f32`, dtype: spec.quantization?.dtype ?? spec.dtype, shape: spec.shape };
  }
  listing.files[model] = entries;
  console.log(`${model}: ${Object.keys(entries).length} weights read by tfjs-core ${listing.tfjs_core}`);
}
fs.writeFileSync(path.join(suite, 'manifest.json'), `${JSON.stringify(listing, null, 1)}\n`);
