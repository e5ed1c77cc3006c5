// Tiny ONNX models for the peers, encoded here (protobuf by hand, onnx.proto field numbers) so the
// benchmark needs no Python. Weights are initializers, so onnxruntime can pre-pack them once.
const enc = new TextEncoder();

function cat(parts) {
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
function varint(n) {
  const out = [];
  while (n > 127) {
    out.push((n % 128) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Uint8Array.from(out);
}
const fInt = (field, n) => cat([varint(field * 8), varint(n)]);
const fBytes = (field, b) => cat([varint(field * 8 + 2), varint(b.length), b]);
const fStr = (field, s) => fBytes(field, enc.encode(s));

export const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6 };

// TensorProto: dims = 1, data_type = 2, name = 8, raw_data = 9.
function tensor(name, dtype, dims, data) {
  const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return cat([...dims.map((d) => fInt(1, d)), fInt(2, dtype), fStr(8, name), fBytes(9, raw)]);
}
// ValueInfoProto { name = 1, type = 2 { tensor_type = 1 { elem_type = 1, shape = 2 { dim = 1 { dim_value = 1 } } } } }
function valueInfo(name, dtype, dims) {
  const shape = cat(dims.map((d) => fBytes(1, fInt(1, d))));
  return cat([fStr(1, name), fBytes(2, fBytes(1, cat([fInt(1, dtype), fBytes(2, shape)])))]);
}
// AttributeProto: name = 1, i = 3, type = 20 (INT = 2).
const attrInt = (name, i) => cat([fStr(1, name), fInt(3, i), fInt(20, 2)]);
// NodeProto: input = 1, output = 2, op_type = 4, attribute = 5, domain = 7.
function node(op, inputs, outputs, attrs = [], domain = '') {
  return cat([
    ...inputs.map((i) => fStr(1, i)),
    ...outputs.map((o) => fStr(2, o)),
    fStr(4, op),
    ...attrs.map((a) => fBytes(5, a)),
    ...(domain ? [fStr(7, domain)] : []),
  ]);
}
// GraphProto: node = 1, name = 2, initializer = 5, input = 11, output = 12.
// ModelProto: ir_version = 1, producer_name = 2, graph = 7, opset_import = 8 { domain = 1, version = 2 }.
function model(nodeBytes, inits, inputs, outputs) {
  const graph = cat([fBytes(1, nodeBytes), fStr(2, 'bench'), ...inits.map((t) => fBytes(5, t)), ...inputs.map((i) => fBytes(11, i)), ...outputs.map((o) => fBytes(12, o))]);
  const opset = (domain, v) => fBytes(8, cat([...(domain ? [fStr(1, domain)] : []), fInt(2, v)]));
  return cat([fInt(1, 8), fStr(2, 'quant-playground-bench'), opset('', 17), opset('com.microsoft', 1), fBytes(7, graph)]);
}

/** Y = A[m,k] · B[k,n] (f32). */
export function matmulF32(m, k, n, bT) {
  return model(node('MatMul', ['A', 'B'], ['Y']), [tensor('B', DT.FLOAT, [k, n], bT)], [valueInfo('A', DT.FLOAT, [m, k])], [valueInfo('Y', DT.FLOAT, [m, n])]);
}

/** MatMulInteger: A (u8 or s8) with a scalar zero point × B s8 [k, n] → i32. */
export function matmulInteger(m, k, n, aSigned, aZero, bT) {
  const adt = aSigned ? DT.INT8 : DT.UINT8;
  const zp = aSigned ? Int8Array.of(aZero) : Uint8Array.of(aZero);
  return model(
    node('MatMulInteger', ['A', 'B', 'a_zero_point'], ['Y']),
    [tensor('B', DT.INT8, [k, n], bT), tensor('a_zero_point', adt, [], zp)],
    [valueInfo('A', adt, [m, k])],
    [valueInfo('Y', DT.INT32, [m, n])],
  );
}

/** com.microsoft DynamicQuantizeMatMul: f32 A → u8 per tensor → × B s8 [k, n] with per-column scales → f32. */
export function dynamicQuantizeMatMul(m, k, n, bT, bScale) {
  return model(
    node('DynamicQuantizeMatMul', ['A', 'B', 'b_scale'], ['Y'], [], 'com.microsoft'),
    [tensor('B', DT.INT8, [k, n], bT), tensor('b_scale', DT.FLOAT, [n], bScale)],
    [valueInfo('A', DT.FLOAT, [m, k])],
    [valueInfo('Y', DT.FLOAT, [m, n])],
  );
}

/** com.microsoft MatMulNBits, 4 bits: B [n, k/bs, bs/2] (element 2i in the low nibble, zero point 8), scales [n·k/bs]. */
export function matMulNBits(m, k, n, blockSize, packed, scales) {
  const blocks = Math.ceil(k / blockSize);
  return model(
    node('MatMulNBits', ['A', 'B', 'scales'], ['Y'], [attrInt('K', k), attrInt('N', n), attrInt('bits', 4), attrInt('block_size', blockSize)], 'com.microsoft'),
    [tensor('B', DT.UINT8, [n, blocks, blockSize / 2], packed), tensor('scales', DT.FLOAT, [n * blocks], scales)],
    [valueInfo('A', DT.FLOAT, [m, k])],
    [valueInfo('Y', DT.FLOAT, [m, n])],
  );
}
