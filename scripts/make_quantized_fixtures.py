#!/usr/bin/env python3
"""Writes tests/fixtures/quantized/*: ONNX models whose weights are not (only) plain initializers,
made by the real libraries, plus the values those libraries read back, for tests/formats_quantized.rs
and scripts/check_convert.py.

    pip install numpy onnx onnxruntime tflite ai-edge-litert flatbuffers
    python3 scripts/make_quantized_fixtures.py

- shape_only.onnx (onnx.helper): int64 shape constants and no float weight at all.
- constants_if.onnx (onnx.helper): weights as Constant nodes, initializers and Constants inside
  If branches and a Loop body, int64 shape constants.
- qdq_per_tensor.onnx, qdq_per_channel.onnx: onnxruntime quantize_static, QDQ format.
- qoperator.onnx: onnxruntime quantize_static, QOperator format (QLinearConv, QLinearMatMul).
- dynamic.onnx: onnxruntime quantize_dynamic (ConvInteger, MatMulInteger).
- nbits{2,4,8}.onnx, nbits4_sym.onnx: onnxruntime MatMulNBitsQuantizer (com.microsoft MatMulNBits).
- nbits4_qdq.onnx: the same quantizer in QDQ format (blocked DequantizeLinear of UINT4).
- nbits{4,8}_fp16.onnx, nbits4_sym_fp16.onnx: the quantizer on float.onnx converted to float16
  (onnxruntime.transformers.float16): MatMulNBits with float16 scales, whose output onnxruntime
  rounds to half.
- nbits4_gidx.onnx, nbits4_sym_fp16_gidx.onnx: those MatMulNBits given a g_idx input (act-order:
  row k in group g_idx[k], a permutation of the rows' blocks), run by onnxruntime's reorder kernel.
  `--nbits-extra` writes only these (and adds them to manifest.json) without touching the rest.
- weights.tflite: float32/float16 tensors and int8/uint8/int16/int32 ones quantized per tensor
  and per channel, written with the `tflite` package's schema builders and read back by
  ai-edge-litert's (TFLite's) Interpreter (see make_tflite).

Expected values are raw little-endian float32 (expected/<file>.<tensor>.f32). A plain float tensor
is what onnx.numpy_helper.to_array reads. A quantized weight is what onnxruntime itself computes:
its codes and parameters go into a one-node model (DequantizeLinear with the same axis and
block_size; for MatMulNBits a MatMulNBits with the identity as A, which yields the dequantized
[K, N] weight) run by onnxruntime's CPU provider. manifest.json lists file → tensor → expected
file, stored dtype, shape, and the quantization the reader must report.
"""
import json
import os
import shutil
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "quantized")
EXP = os.path.join(OUT, "expected")
manifest = {}  # file -> tensor -> {"expected", "dtype", "shape", "quant"?}
listed = {}  # file -> tensor -> dtype: listed by the reader, not quantizable
parameters = {}  # file -> [tensor]: scales and zero points, listed as parameters of a quantization
rng = np.random.default_rng(20261203)


def expect(fixture, tensor, values, dtype, quant=None, zero_sign=True):
    key = f"{fixture}.{tensor}".replace("/", "_").replace(":", "_")
    arr = np.ascontiguousarray(np.asarray(values, dtype=np.float32))
    arr.astype("<f4").tofile(os.path.join(EXP, key + ".f32"))
    entry = {"expected": key + ".f32", "dtype": dtype, "shape": list(arr.shape)}
    if quant:
        entry["quant"] = quant
    if not zero_sign:
        # The reference adds +0 terms (a product with the identity): a −0 comes out as +0.
        entry["zero_sign"] = False
    manifest.setdefault(fixture, {})[tensor] = entry


def run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)[0]


def ort_dequantize_linear(q, scale, zero_point, axis, block_size):
    """onnxruntime's DequantizeLinear on these exact codes and parameters (opset 21)."""
    z = numpy_helper.from_array(zero_point, "z") if zero_point is not None else None
    return ort_dequantize_tensor_protos(numpy_helper.from_array(q, "q"), numpy_helper.from_array(scale, "s"), z, axis, block_size)


def ort_dequantize_tensor_protos(q, s, z, axis, block_size):
    """As ort_dequantize_linear, with the codes as their TensorProto (INT4/UINT4 stay packed)."""
    inits = [q, s] + ([z] if z is not None else [])
    names = [t.name for t in inits]
    attrs = {"axis": axis}
    if block_size:
        attrs["block_size"] = block_size
    node = helper.make_node("DequantizeLinear", names, ["y"], **attrs)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([node], "dq", [], [y], initializer=inits)
    return run(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]), {})


# --- a float model: Conv → Relu → Flatten → MatMul → Add ------------------------------------------------
K, N = 64, 16


def float_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 6, 6])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N])
    conv_w = (rng.standard_normal((4, 1, 3, 3)) * 0.3).astype(np.float32)
    conv_b = (rng.standard_normal(4) * 0.1).astype(np.float32)
    fc_w = (rng.standard_normal((K, N)) * 0.1).astype(np.float32)
    fc_w[:, 3] *= 8  # one column with a wider range: per-channel scales differ
    fc_b = (rng.standard_normal(N) * 0.1).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"], name="conv"),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
        helper.make_node("MatMul", ["f", "fc.weight"], ["m"], name="fc"),
        helper.make_node("Add", ["m", "fc.bias"], ["y"], name="fc_add"),
    ]
    inits = [numpy_helper.from_array(a, n) for a, n in [(conv_w, "conv.weight"), (conv_b, "conv.bias"), (fc_w, "fc.weight"), (fc_b, "fc.bias")]]
    g = helper.make_graph(nodes, "cnn", [x], [y], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


class Calib(CalibrationDataReader):
    def __init__(self):
        self.data = iter([{"x": rng.standard_normal((1, 1, 6, 6)).astype(np.float32)} for _ in range(8)])

    def get_next(self):
        return next(self.data, None)


def tensors_of(model):
    return {t.name: t for t in model.graph.initializer}


def dq_entries(fixture, model):
    """Every DequantizeLinear in the graph whose input is an integer initializer."""
    inits = tensors_of(model)
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in inits:
            continue
        q = inits[node.input[0]]
        if q.data_type not in (TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16, TensorProto.UINT16, TensorProto.INT32, TensorProto.INT4, TensorProto.UINT4):
            continue
        s = inits[node.input[1]]
        z = inits[node.input[2]] if len(node.input) > 2 and node.input[2] else None
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        axis, block = attrs.get("axis", 1), attrs.get("block_size", 0)
        values = ort_dequantize_tensor_protos(q, s, z, axis, block)
        sn = numpy_helper.to_array(s)
        rank = len(q.dims)
        if block:
            gran = {"kind": "blocked", "axis": axis % rank, "block_size": block}
        elif sn.size > 1:
            gran = {"kind": "per_axis", "axis": axis % rank}
        else:
            gran = {"kind": "per_tensor"}
        bits = {TensorProto.INT4: 4, TensorProto.UINT4: 4, TensorProto.INT8: 8, TensorProto.UINT8: 8, TensorProto.INT16: 16, TensorProto.UINT16: 16, TensorProto.INT32: 32}[q.data_type]
        expect(fixture, q.name, values, onnx.helper.tensor_dtype_to_np_dtype(q.data_type).name.upper(), {"scheme": "onnx_dequantize_linear", "granularity": gran, "bits": bits})


# The inputs of the quantized operators that are scales and zero points (of weights or of
# activations): part of another tensor's quantization, not weights of their own.
PARAMETER_INPUTS = {"DequantizeLinear": [1, 2], "QuantizeLinear": [1, 2], "QLinearConv": [1, 2, 4, 5, 6, 7],
                    "QLinearMatMul": [1, 2, 4, 5, 6, 7], "QLinearAdd": [1, 2, 4, 5, 6, 7], "QLinearMul": [1, 2, 4, 5, 6, 7],
                    "ConvInteger": [2, 3], "MatMulInteger": [2, 3], "MatMulNBits": [2, 3, 4]}


def parameters_of(model):
    inits = tensors_of(model)
    names = {n.input[i] for n in model.graph.node for i in PARAMETER_INPUTS.get(n.op_type, []) if i < len(n.input)}
    for n in model.graph.node:
        if n.op_type in ("ConvInteger", "MatMulInteger"):
            names.add(integer_op_scale(model, n, inits).name)
    return names


def float_entries(fixture, model):
    params = parameters_of(model)
    for t in model.graph.initializer:
        if t.name in params:
            continue
        if t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE):
            expect(fixture, t.name, numpy_helper.to_array(t).astype(np.float32), {1: "F32", 10: "F16", 11: "F64"}[t.data_type])


def save(model, name):
    onnx.save(model, os.path.join(OUT, name))
    return onnx.load(os.path.join(OUT, name))


# --- Constant nodes and subgraphs ------------------------------------------------------------------------
def make_constants_if():
    w_main = (rng.standard_normal((3, 4)) * 0.2).astype(np.float32)
    c_value = (rng.standard_normal((4,)) * 0.2).astype(np.float32)
    then_init = (rng.standard_normal((4,)) * 0.2).astype(np.float32)
    then_const = (rng.standard_normal((2, 2)) * 0.2).astype(np.float16)
    else_const = (rng.standard_normal((4,)) * 0.2).astype(np.float32)
    body_init = (rng.standard_normal((4,)) * 0.2).astype(np.float32)
    shape = np.array([1, 4], dtype=np.int64)

    then_g = helper.make_graph(
        [
            helper.make_node("Constant", [], ["then.scale"], value=numpy_helper.from_array(then_const, "tc"), name="then_const"),
            helper.make_node("Add", ["h", "then.bias"], ["t_out"], name="then_add"),
        ],
        "then",
        [],
        [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(then_init, "then.bias")],
    )
    else_g = helper.make_graph(
        [
            helper.make_node("Constant", [], ["else.bias"], value=numpy_helper.from_array(else_const, "ec"), name="else_const"),
            helper.make_node("Sub", ["h", "else.bias"], ["e_out"], name="else_sub"),
        ],
        "else",
        [],
        [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, [1, 4])],
    )
    body = helper.make_graph(
        [
            helper.make_node("Identity", ["cond_in"], ["cond_out"]),
            helper.make_node("Add", ["v_in", "loop.bias"], ["v_out"]),
        ],
        "body",
        [
            helper.make_tensor_value_info("i", TensorProto.INT64, []),
            helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
            helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1, 4]),
        ],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(body_init, "loop.bias")],
    )
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(shape, "s"), name="shape_const"),
        helper.make_node("Constant", [], ["c.bias"], value=numpy_helper.from_array(c_value, "cb"), name="bias_const"),
        helper.make_node("MatMul", ["x", "w.main"], ["m"]),
        helper.make_node("Add", ["m", "c.bias"], ["a"]),
        helper.make_node("Reshape", ["a", "shape"], ["h"]),
        helper.make_node("If", ["cond"], ["branch"], then_branch=then_g, else_branch=else_g, name="if"),
        helper.make_node("Constant", [], ["trip"], value=numpy_helper.from_array(np.array(2, dtype=np.int64), "t"), name="trip_const"),
        helper.make_node("Loop", ["trip", "cond", "branch"], ["y"], body=body, name="loop"),
    ]
    g = helper.make_graph(
        nodes,
        "constants",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3]), helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        initializer=[numpy_helper.from_array(w_main, "w.main")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    m = save(m, "constants_if.onnx")
    # What the onnx package reads back, tensor by tensor, walking every graph.
    f = "constants_if.onnx"
    expect(f, "w.main", numpy_helper.to_array(m.graph.initializer[0]), "F32")
    consts = {}

    def walk(graph):
        for t in graph.initializer:
            consts[t.name] = numpy_helper.to_array(t)
        for n in graph.node:
            for a in n.attribute:
                if n.op_type == "Constant" and a.name == "value":
                    consts[n.output[0]] = numpy_helper.to_array(a.t)
                if a.type == onnx.AttributeProto.GRAPH:
                    walk(a.g)

    walk(m.graph)
    for name in ["c.bias", "then.bias", "then.scale", "else.bias", "loop.bias"]:
        expect(f, name, consts[name].astype(np.float32), {np.float32: "F32", np.float16: "F16"}[consts[name].dtype.type])
    listed[f] = {"shape": "I64", "trip": "I64"}
    # The model runs: both branches and the loop are real.
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    sess.run(None, {"x": np.ones((1, 3), np.float32), "cond": np.array(True)})


def make_shape_only():
    """A graph whose only tensors are int64 shape constants: the reader says so."""
    nodes = [
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([2, 3], np.int64), "s")),
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[1, 0]),
        helper.make_node("Reshape", ["t", "back"], ["y"]),
    ]
    g = helper.make_graph(nodes, "shapes", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [6])],
                          initializer=[numpy_helper.from_array(np.array([6], np.int64), "back")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    save(m, "shape_only.onnx")
    manifest["shape_only.onnx"] = {}
    listed["shape_only.onnx"] = {"back": "I64", "shape": "I64"}


# --- onnxruntime quantizers ------------------------------------------------------------------------------
def make_ort_quantized():
    base = float_model()
    tmp = tempfile.mkdtemp()
    src = os.path.join(tmp, "float.onnx")
    onnx.save(base, src)
    shutil.copy(src, os.path.join(OUT, "float.onnx"))
    float_entries("float.onnx", base)

    for name, per_channel in [("qdq_per_tensor.onnx", False), ("qdq_per_channel.onnx", True)]:
        out = os.path.join(tmp, name)
        quantize_static(src, out, Calib(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        m = save(onnx.load(out), name)
        dq_entries(name, m)

    out = os.path.join(tmp, "qoperator.onnx")
    quantize_static(src, out, Calib(), quant_format=QuantFormat.QOperator, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    m = save(onnx.load(out), "qoperator.onnx")
    qop_entries("qoperator.onnx", m)

    out = os.path.join(tmp, "dynamic.onnx")
    quantize_dynamic(src, out, weight_type=QuantType.QUInt8, per_channel=False, op_types_to_quantize=["Conv", "MatMul"])
    m = save(onnx.load(out), "dynamic.onnx")
    qop_entries("dynamic.onnx", m)

    for bits, sym, name, fmt in [(4, False, "nbits4.onnx", QuantFormat.QOperator), (4, True, "nbits4_sym.onnx", QuantFormat.QOperator),
                                 (2, False, "nbits2.onnx", QuantFormat.QOperator), (8, False, "nbits8.onnx", QuantFormat.QOperator),
                                 (4, False, "nbits4_qdq.onnx", QuantFormat.QDQ)]:
        cfg = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=sym, bits=bits, quant_format=fmt)
        q = MatMulNBitsQuantizer(onnx.load(src), algo_config=cfg)
        q.process()
        m = save(q.model.model, name)
        if fmt == QuantFormat.QDQ:
            dq_entries(name, m)
        else:
            nbits_entries(name, m)
        float_entries(name, m)
    shutil.rmtree(tmp)


# Which inputs of each QOperator op are (codes, scale, zero point) of a weight, after onnxruntime's
# operator definitions (QLinearConv: w 3, w_scale 4, w_zero_point 5; QLinearMatMul: b 3, 4, 5;
# ConvInteger: w 1, w_zero_point 3; MatMulInteger: b 1, b_zero_point 3).
QOP_WEIGHTS = {"QLinearConv": [(3, 4, 5)], "QLinearMatMul": [(0, 1, 2), (3, 4, 5)], "QLinearAdd": [(0, 1, 2), (3, 4, 5)], "ConvInteger": [(1, None, 3)], "MatMulInteger": [(1, None, 3)]}


def qop_entries(fixture, model):
    inits = tensors_of(model)
    float_entries(fixture, model)
    for node in model.graph.node:
        for codes, scale, zp in QOP_WEIGHTS.get(node.op_type, []):
            if codes >= len(node.input) or node.input[codes] not in inits:
                continue
            q = inits[node.input[codes]]
            z = inits.get(node.input[zp]) if zp < len(node.input) else None
            if scale is not None:
                s = inits[node.input[scale]]
            else:
                s = integer_op_scale(model, node, inits)
            sn = numpy_helper.to_array(s)
            axis = 0 if node.op_type in ("QLinearConv", "ConvInteger") else len(q.dims) - 1
            values = ort_dequantize_tensor_protos(q, s, z, axis if sn.size > 1 else 1, 0)
            gran = {"kind": "per_axis", "axis": axis} if sn.size > 1 else {"kind": "per_tensor"}
            scheme = "onnx_qlinear" if scale is not None else "onnx_integer"
            expect(fixture, q.name, values, onnx.helper.tensor_dtype_to_np_dtype(q.data_type).name.upper(), {"scheme": scheme, "granularity": gran, "bits": 8})
        if node.op_type == "QLinearConv" and len(node.input) > 8 and node.input[8] in inits:
            # The int32 bias: scale x_scale · w_scale as quantize_static computed it
            # (onnxruntime quantization/base_quantizer.py quantize_bias_static_impl), zero point 0.
            bias = inits[node.input[8]]
            xs = numpy_helper.to_array(inits[node.input[1]]).astype(np.float32)
            ws = numpy_helper.to_array(inits[node.input[4]]).astype(np.float32)
            bs = (xs * ws).astype(np.float32).reshape(-1)
            values = ort_dequantize_linear(numpy_helper.to_array(bias), bs if bs.size > 1 else bs.reshape(()), None, 0, 0)
            gran = {"kind": "per_axis", "axis": 0} if bs.size > 1 else {"kind": "per_tensor"}
            expect(fixture, bias.name, values, "INT32", {"scheme": "onnx_qlinear", "granularity": gran, "bits": 32})


def integer_op_scale(model, node, inits):
    """quantize_dynamic multiplies ConvInteger/MatMulInteger's output (after a Cast) by the product of
    the input's dynamic scale and the weight's scale initializer (onnxruntime
    quantization/operators/matmul.py MatMulInteger, conv.py ConvInteger): find that initializer."""
    consumers = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    producers = {o: n for n in model.graph.node for o in n.output}
    cast = consumers[node.output[0]][0]
    assert cast.op_type == "Cast", cast
    mul = consumers[cast.output[0]][0]
    assert mul.op_type == "Mul", mul
    other = [i for i in mul.input if i != cast.output[0]][0]
    scale_mul = producers[other]
    found = [i for i in scale_mul.input if i in inits]
    assert len(found) == 1, scale_mul
    return inits[found[0]]


def nbits_entries(fixture, model):
    inits = tensors_of(model)
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        k, n, bits, block = attrs["K"], attrs["N"], attrs["bits"], attrs["block_size"]
        ins = [i for i in node.input]
        b, s = inits[ins[1]], inits[ins[2]]
        z = inits.get(ins[3]) if len(ins) > 3 and ins[3] else None
        # onnxruntime's own MatMulNBits with A = I (K×K): the output is the dequantized [K, N] weight.
        a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [k, k])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [k, n])
        one = helper.make_node("MatMulNBits", ["a", b.name, s.name] + ([z.name] if z is not None else []), ["y"], domain="com.microsoft", K=k, N=n, bits=bits, block_size=block)
        g = helper.make_graph([one], "nbits", [a], [y], initializer=[b, s] + ([z] if z is not None else []))
        mm = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
        values = run(mm, {"a": np.eye(k, dtype=np.float32)})
        expect(fixture, b.name, values, "U8", {"scheme": "onnx_matmul_nbits", "granularity": {"kind": "blocked", "axis": 0, "block_size": block}, "bits": bits}, zero_sign=False)


def nbits_reference(fixture, node, inits, dtype):
    """onnxruntime's own MatMulNBits on node's B, scales, zero points and g_idx with A = I (K×K) in
    the model's float type: the output is the dequantized [K, N] weight as onnxruntime computes it."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    k, n, bits, block = attrs["K"], attrs["N"], attrs["bits"], attrs["block_size"]
    ins = list(node.input) + [""] * (5 - len(node.input))
    used = [i for i in ins[1:5] if i]
    elem = TensorProto.FLOAT16 if dtype == np.float16 else TensorProto.FLOAT
    a = helper.make_tensor_value_info("a", elem, [k, k])
    y = helper.make_tensor_value_info("y", elem, [k, n])
    one = helper.make_node("MatMulNBits", ["a"] + ins[1:5], ["y"], domain="com.microsoft", K=k, N=n, bits=bits, block_size=block)
    g = helper.make_graph([one], "nbits", [a], [y], initializer=[inits[i] for i in used])
    mm = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    return run(mm, {"a": np.eye(k, dtype=dtype)}).astype(np.float32), block, bits


def nbits_entries_typed(fixture, model, dtype):
    inits = tensors_of(model)
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        values, block, bits = nbits_reference(fixture, node, inits, dtype)
        expect(fixture, node.input[1], values, "U8", {"scheme": "onnx_matmul_nbits", "granularity": {"kind": "blocked", "axis": 0, "block_size": block}, "bits": bits}, zero_sign=False)


def with_g_idx(model, seed):
    """Gives every MatMulNBits a g_idx (input 4): the rows of each block dealt to groups by a
    permutation, as GPTQ's act-order leaves them (g_idx[perm[j]] = j // block_size)."""
    g_rng = np.random.default_rng(seed)
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        k, block = attrs["K"], attrs["block_size"]
        g_idx = np.empty(k, dtype=np.int32)
        g_idx[g_rng.permutation(k)] = np.arange(k) // block
        name = node.input[1] + "_g_idx"
        model.graph.initializer.append(numpy_helper.from_array(g_idx, name))
        ins = list(node.input) + [""] * (4 - len(node.input))
        del node.input[:]
        node.input.extend(ins[:4] + [name])
    return model


def make_nbits_extra():
    """MatMulNBits with float16 scales (float.onnx in float16) and with g_idx."""
    from onnxruntime.transformers.float16 import convert_float_to_float16
    src16 = convert_float_to_float16(onnx.load(os.path.join(OUT, "float.onnx")), keep_io_types=False)
    for bits, sym, name in [(4, False, "nbits4_fp16.onnx"), (4, True, "nbits4_sym_fp16.onnx"), (8, False, "nbits8_fp16.onnx")]:
        cfg = DefaultWeightOnlyQuantConfig(block_size=32, is_symmetric=sym, bits=bits, quant_format=QuantFormat.QOperator)
        q = MatMulNBitsQuantizer(onnx.ModelProto.FromString(src16.SerializeToString()), algo_config=cfg)
        q.process()
        m = save(q.model.model, name)
        nbits_entries_typed(name, m, np.float16)
        float_entries(name, m)
    for base, name, dtype in [("nbits4.onnx", "nbits4_gidx.onnx", np.float32), ("nbits4_sym_fp16.onnx", "nbits4_sym_fp16_gidx.onnx", np.float16)]:
        m = save(with_g_idx(onnx.load(os.path.join(OUT, base)), 20261204), name)
        nbits_entries_typed(name, m, dtype)
        float_entries(name, m)


def record_parameters_and_listed(files):
    for f in files:
        if f in ("constants_if.onnx", "shape_only.onnx") or not f.endswith(".onnx"):
            continue
        m = onnx.load(os.path.join(OUT, f))
        params = parameters_of(m)
        # 4-bit zero points are shown with their quantization, not listed apart.
        parameters[f] = sorted(params & {t.name for t in m.graph.initializer if t.data_type not in (TensorProto.INT4, TensorProto.UINT4)})
        for t in m.graph.initializer:
            if t.name not in params and t.name not in manifest[f]:
                listed.setdefault(f, {})[t.name] = {6: "I32", 7: "I64"}[t.data_type]


def write_manifest():
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"files": manifest, "listed": listed, "parameters": parameters}, f, indent=1, sort_keys=True)
        f.write("\n")


def main_nbits_extra():
    with open(os.path.join(OUT, "manifest.json")) as f:
        old = json.load(f)
    manifest.update(old["files"])
    listed.update(old["listed"])
    parameters.update(old["parameters"])
    before = set(manifest)
    make_nbits_extra()
    new = sorted(set(manifest) - before)
    record_parameters_and_listed(new)
    write_manifest()
    print(f"added {sum(len(manifest[f]) for f in new)} expected tensors of {len(new)} files: {', '.join(new)}")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(EXP)
    make_constants_if()
    make_shape_only()
    make_ort_quantized()
    make_nbits_extra()
    make_tflite()
    # Whatever else a main graph holds is listed as stored, not quantizable (shape constants).
    record_parameters_and_listed(list(manifest))
    write_manifest()
    print(f"wrote {sum(len(v) for v in manifest.values())} expected tensors for {len(manifest)} files in {OUT}")



# --- TFLite ----------------------------------------------------------------------------------------------
# Written with the flatbuffers builder functions of the `tflite` package (the TFLite schema,
# schema.fbs, generated for Python), read back by ai-edge-litert's (TFLite's) Interpreter: the values a
# quantized tensor holds are TFLite's own rule, real = scale · (q − zero_point), computed with the
# scale widened to double and the result rounded to float (tensorflow/lite/kernels/internal/
# reference/dequantize.h; DequantizationParams holds a double scale).
TFLITE_TENSORS = [
    # name, TensorType, numpy dtype, shape, (scales, zero points, quantized_dimension) or None
    ("dense/kernel", 0, np.float32, (4, 8), None),
    ("dense/bias_f16", 1, np.float16, (8,), None),
    ("conv/filter", 9, np.int8, (3, 2, 2, 1), ([0.011, 0.023, 0.0037], [0, 0, 0], 0)),
    ("fc/weights", 9, np.int8, (8, 4), ([0.0421], [-3], 0)),
    ("fc/weights_u8", 3, np.uint8, (5, 3), ([0.0078125], [128], 0)),
    ("fc/weights_i16", 7, np.int16, (2, 6), ([1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4], [0] * 6, 1)),
    ("conv/bias", 2, np.int32, (3,), ([0.011 * 0.5, 0.023 * 0.5, 0.0037 * 0.5], [0, 0, 0], 0)),
    ("reshape/shape", 2, np.int32, (2,), None),
]


def make_tflite():
    import flatbuffers
    import tflite
    from ai_edge_litert.interpreter import Interpreter

    b = flatbuffers.Builder(4096)
    arrays = []
    for name, _, dt, shape, q in TFLITE_TENSORS:
        if np.issubdtype(dt, np.integer):
            info = np.iinfo(dt)
            lo, hi = max(info.min, -120), min(info.max, 250)
            arrays.append(rng.integers(lo, hi, size=shape).astype(dt))
        else:
            arrays.append((rng.standard_normal(shape) * 0.1).astype(dt))

    def vector(start, items, prepend):
        start(b, len(items))
        for v in reversed(items):
            prepend(v)
        return b.EndVector()

    # Buffer 0 is the empty sentinel; activations (the input) use it.
    buffers = []
    for a in [None] + arrays:
        data = None
        if a is not None:
            raw = a.tobytes()
            b.StartVector(1, len(raw), 16)
            for byte in reversed(raw):
                b.PrependByte(byte)
            data = b.EndVector()
        tflite.BufferStart(b)
        if data is not None:
            tflite.BufferAddData(b, data)
        buffers.append(tflite.BufferEnd(b))
    tensors = []
    all_tensors = [("input", 0, np.float32, (1, 4), None)] + TFLITE_TENSORS
    for i, (name, ttype, _, shape, q) in enumerate(all_tensors):
        n = b.CreateString(name)
        sh = vector(tflite.TensorStartShapeVector, list(shape), b.PrependInt32)
        qp = None
        if q is not None:
            scales, zps, qdim = q
            sv = vector(tflite.QuantizationParametersStartScaleVector, scales, b.PrependFloat32)
            zv = vector(tflite.QuantizationParametersStartZeroPointVector, zps, b.PrependInt64)
            tflite.QuantizationParametersStart(b)
            tflite.QuantizationParametersAddScale(b, sv)
            tflite.QuantizationParametersAddZeroPoint(b, zv)
            tflite.QuantizationParametersAddQuantizedDimension(b, qdim)
            qp = tflite.QuantizationParametersEnd(b)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, sh)
        tflite.TensorAddType(b, ttype)
        tflite.TensorAddBuffer(b, i)  # the input uses buffer 0, tensor i ≥ 1 buffer i
        tflite.TensorAddName(b, n)
        if qp is not None:
            tflite.TensorAddQuantization(b, qp)
        tensors.append(tflite.TensorEnd(b))
    tv = vector(tflite.SubGraphStartTensorsVector, tensors, b.PrependUOffsetTRelative)
    iv = vector(tflite.SubGraphStartInputsVector, [0], b.PrependInt32)
    ov = vector(tflite.SubGraphStartOutputsVector, [0], b.PrependInt32)
    opv = vector(tflite.SubGraphStartOperatorsVector, [], b.PrependUOffsetTRelative)
    sgname = b.CreateString("main")
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tv)
    tflite.SubGraphAddInputs(b, iv)
    tflite.SubGraphAddOutputs(b, ov)
    tflite.SubGraphAddOperators(b, opv)
    tflite.SubGraphAddName(b, sgname)
    sg = tflite.SubGraphEnd(b)
    sgv = vector(tflite.ModelStartSubgraphsVector, [sg], b.PrependUOffsetTRelative)
    bv = vector(tflite.ModelStartBuffersVector, buffers, b.PrependUOffsetTRelative)
    codes = vector(tflite.ModelStartOperatorCodesVector, [], b.PrependUOffsetTRelative)
    desc = b.CreateString("quant-playground fixture")
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes)
    tflite.ModelAddSubgraphs(b, sgv)
    tflite.ModelAddDescription(b, desc)
    tflite.ModelAddBuffers(b, bv)
    b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
    f = "weights.tflite"
    with open(os.path.join(OUT, f), "wb") as out:
        out.write(b.Output())

    # What TFLite itself reads back.
    it = Interpreter(model_path=os.path.join(OUT, f))
    it.allocate_tensors()
    for d in it.get_tensor_details():
        if d["name"] == "input":
            continue
        q = it.get_tensor(d["index"])
        qp = d["quantization_parameters"]
        scales, zps, qdim = qp["scales"], qp["zero_points"], qp["quantized_dimension"]
        if len(scales) == 0:
            if q.dtype in (np.float32, np.float16):
                expect(f, d["name"], q.astype(np.float32), {np.float32: "F32", np.float16: "F16"}[q.dtype.type])
            else:
                listed.setdefault(f, {})[d["name"]] = {np.int32: "I32"}[q.dtype.type]
            continue
        shape = [1] * q.ndim
        if len(scales) > 1:
            shape[qdim] = len(scales)
        s = scales.astype(np.float32).astype(np.float64).reshape(shape)
        z = zps.astype(np.int64).reshape(shape)
        values = (s * (q.astype(np.int64) - z)).astype(np.float32)
        gran = {"kind": "per_axis", "axis": int(qdim)} if len(scales) > 1 else {"kind": "per_tensor"}
        expect(f, d["name"], values, q.dtype.name.upper(), {"scheme": "tflite", "granularity": gran, "bits": 8 * q.dtype.itemsize})


if __name__ == "__main__":
    import sys
    main_nbits_extra() if "--nbits-extra" in sys.argv[1:] else main()
