"""Prints what onnxruntime's quantize_static (QDQ, u8 activations, s8 weights, minmax) writes for
the two-node model of tests/ptq.rs (`a_conv_relu_model_is_rewritten_as_ort_writes_it`): its nodes and
initializers. The test's expected values were copied from this output (onnxruntime 1.32)."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
import tempfile, os

X = np.array([-1, 1, 0.5, 0.25, -0.5, 0.75, 1, -1], np.float32).reshape(1, 2, 2, 2)


class Reader(CalibrationDataReader):
    def __init__(self):
        self.it = iter([{"x": X}])

    def get_next(self):
        return next(self.it, None)


def main():
    d = tempfile.mkdtemp()
    w = numpy_helper.from_array(np.array([0.5, -0.25, 1.0, 0.75], np.float32).reshape(2, 2, 1, 1), "w")
    b = numpy_helper.from_array(np.array([0.1, -0.2], np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"), helper.make_node("Relu", ["c"], ["y"], name="relu")]
    io = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 2, 2])  # noqa: E731
    m = helper.make_model(helper.make_graph(nodes, "tiny", [io("x")], [io("y")], [w, b]), opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    src, dst = os.path.join(d, "tiny.onnx"), os.path.join(d, "tiny-q.onnx")
    onnx.save(m, src)
    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    q = onnx.load(dst)
    for n in q.graph.node:
        print(n.op_type, n.name, list(n.input), list(n.output))
    for i in q.graph.initializer:
        a = numpy_helper.to_array(i)
        print(i.name, a.dtype, [float(v) if a.dtype.kind == "f" else int(v) for v in a.ravel()])


if __name__ == "__main__":
    main()
