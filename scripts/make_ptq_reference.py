"""Prints what onnxruntime writes for the two-node Conv+Relu model of tests/ptq.rs: quantize_static
(QDQ, u8 activations, s8 weights, minmax; `a_conv_relu_model_is_rewritten_as_ort_writes_it`) and
quantize_dynamic (`dynamic_quantization_writes_conv_integer_as_ort_does`): nodes and initializers.
The tests' expected values were copied from this output (onnxruntime 1.32)."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
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
    dyn = os.path.join(d, "tiny-dyn.onnx")
    quantize_dynamic(src, dyn)
    for title, path in (("quantize_static", dst), ("quantize_dynamic", dyn)):
        print(f"== {title}")
        q = onnx.load(path)
        for n in q.graph.node:
            print(n.op_type, n.name, list(n.input), list(n.output), [(a.name, helper.get_attribute_value(a)) for a in n.attribute])
        for i in q.graph.initializer:
            a = numpy_helper.to_array(i)
            print(i.name, a.dtype, list(a.shape), [float(v) if a.dtype.kind == "f" else int(v) for v in a.ravel()])


if __name__ == "__main__":
    main()
