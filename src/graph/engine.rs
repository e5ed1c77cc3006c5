//! How the CLI gets activations without an interpreter of its own: it writes the exposed model
//! to a file and runs a real engine as a subprocess (scripts/ptq_engine.py: onnxruntime python;
//! scripts/ptq-engine.mjs: onnxruntime-web under Node, the page's engine), feeding it one
//! calibration batch at a time and folding the tensors it sends back into the calibrators.
//!
//! The protocol is the one of ptq-page's onnxruntime-web runner (scripts/ort_runner.mjs): frames
//! both ways, a u32 little-endian length of a JSON header, the header, then the tensors' bytes
//! back to back (little-endian, C order), sizes from their dtype and shape.
//! - the engine's first frame: `{"inputs":[names],"outputs":[names]}` or `{"error":…}`;
//! - request: `{"inputs":[{"name","dtype","shape"}…],"outputs":[names]}` + the inputs' bytes;
//! - reply: `{"outputs":[{"name","dtype","shape"}…]}` + bytes, or `{"error":"message"}`.
//!
//! The engine is started with the model's path as its last argument and ends when its input closes.

use super::calibration::{PtqCalibration, PtqRanges};
use crate::error::{Error, Result};
use crate::formats::{self, FileSource};
use crate::tensor::{DType, TensorInfo};
use std::io::{BufReader, Read, Write};
use std::process::{Command, Stdio};

/// One array fed to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// One calibration batch: the model's inputs.
pub type Batch = Vec<Array>;

fn numpy_dtype(d: DType) -> Option<&'static str> {
    Some(match d {
        DType::F32 => "float32",
        DType::F64 => "float64",
        DType::F16 => "float16",
        DType::I64 => "int64",
        DType::I32 => "int32",
        DType::I16 => "int16",
        DType::I8 => "int8",
        DType::U8 => "uint8",
        DType::U16 => "uint16",
        DType::U32 => "uint32",
        DType::U64 => "uint64",
        DType::Bool => "bool",
        _ => return None,
    })
}

fn read_arrays(path: &str) -> Result<Vec<Array>> {
    let mut src = FileSource::open(path)?;
    let index = formats::read_index(path, &mut src)?;
    if index.format != formats::Format::Npz {
        return Err(Error::unsupported(path, "calibration data is a .npz (one array per model input) or a folder of them"));
    }
    let mut out = Vec::new();
    for t in &index.tensors {
        out.push(array(path, &mut src, t)?);
    }
    Ok(out)
}

fn array(path: &str, src: &mut FileSource, t: &TensorInfo) -> Result<Array> {
    let dtype = numpy_dtype(t.dtype).ok_or_else(|| Error::unsupported(path, format!("array '{}' has dtype {}, which no model input takes", t.name, t.dtype.name())))?;
    if t.big_endian && t.dtype.size() > 1 {
        return Err(Error::unsupported(path, format!("array '{}' is big-endian; save it little-endian", t.name)));
    }
    let mut data = formats::read_tensor_bytes(src, t)?;
    if t.fortran_order {
        data = crate::tensor::fortran_bytes_to_c_order(&data, &t.shape, t.dtype.size());
    }
    Ok(Array { name: t.name.clone(), dtype, shape: t.shape.clone(), data })
}

/// The calibration batches of `--calib-data`: a .npz whose arrays' first axis indexes samples
/// (each sample one batch, the axis kept as 1), or a folder of .npz files, each one batch.
pub fn calibration_batches(path: &str) -> Result<Vec<Batch>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::Io { path: path.into(), detail: e.to_string() })?;
    if meta.is_dir() {
        let mut files: Vec<String> = std::fs::read_dir(path)
            .map_err(|e| Error::Io { path: path.into(), detail: e.to_string() })?
            .filter_map(|e| e.ok())
            .map(|e| e.path().to_string_lossy().into_owned())
            .filter(|p| p.ends_with(".npz"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Io { path: path.into(), detail: "the folder holds no .npz file".into() });
        }
        return files.iter().map(|f| read_arrays(f)).collect();
    }
    let arrays = read_arrays(path)?;
    let first = arrays.first().ok_or_else(|| Error::malformed(path, "the .npz holds no array"))?;
    let samples = *first.shape.first().ok_or_else(|| Error::malformed(path, format!("array '{}' is a scalar; the first axis should index samples", first.name)))?;
    let mut batches: Vec<Batch> = vec![Vec::new(); samples];
    for a in &arrays {
        if a.shape.first() != Some(&samples) {
            return Err(Error::malformed(path, format!("array '{}' has shape {:?}; every array's first axis should be the {samples} samples", a.name, a.shape)));
        }
        let per = a.data.len() / samples.max(1);
        for (i, b) in batches.iter_mut().enumerate() {
            let mut shape = a.shape.clone();
            shape[0] = 1;
            b.push(Array { name: a.name.clone(), dtype: a.dtype, shape, data: a.data[i * per..(i + 1) * per].to_vec() });
        }
    }
    if batches.is_empty() {
        return Err(Error::malformed(path, "the arrays hold 0 samples"));
    }
    Ok(batches)
}

fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "float64" | "int64" | "uint64" => 8,
        "float32" | "int32" | "uint32" => 4,
        "float16" | "int16" | "uint16" => 2,
        "int8" | "uint8" | "bool" => 1,
        _ => return None,
    })
}

fn io(detail: impl Into<String>) -> Error {
    Error::Io { path: "the activation engine".into(), detail: detail.into() }
}

fn write_frame(out: &mut dyn Write, header: &serde_json::Value, buffers: &[&[u8]]) -> std::io::Result<()> {
    let json = header.to_string();
    out.write_all(&(json.len() as u32).to_le_bytes())?;
    out.write_all(json.as_bytes())?;
    for b in buffers {
        out.write_all(b)?;
    }
    out.flush()
}

/// A frame's header; an `{"error"}` frame becomes an error naming what the engine said.
pub fn read_header(input: &mut dyn Read) -> Result<serde_json::Value> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(|e| io(format!("ended without answering ({e}); see its messages above")))?;
    let len = u32::from_le_bytes(len) as usize;
    if len > 64 << 20 {
        return Err(io(format!("sent a header of {len} bytes")));
    }
    let mut json = vec![0u8; len];
    input.read_exact(&mut json).map_err(|e| io(format!("header cut short: {e}")))?;
    let head: serde_json::Value = serde_json::from_slice(&json).map_err(|e| io(format!("sent a header that is not JSON: {e}")))?;
    if let Some(err) = head.get("error") {
        return Err(io(format!("says: {}", err.as_str().unwrap_or(&err.to_string()))));
    }
    Ok(head)
}

/// Writes one batch as a run request for the named outputs.
pub fn write_request(out: &mut dyn Write, batch: &Batch, outputs: &[String]) -> std::io::Result<()> {
    let inputs: Vec<serde_json::Value> = batch.iter().map(|a| serde_json::json!({"name": a.name, "dtype": a.dtype, "shape": a.shape})).collect();
    let buffers: Vec<&[u8]> = batch.iter().map(|a| &a.data[..]).collect();
    write_frame(out, &serde_json::json!({ "inputs": inputs, "outputs": outputs }), &buffers)
}

/// Reads one reply and hands each float output's values (float16 widened) to `each`.
pub fn read_reply(input: &mut dyn Read, mut each: impl FnMut(&str, &[f32]) -> Result<()>) -> Result<()> {
    let head = read_header(input)?;
    let outputs = head.get("outputs").and_then(|o| o.as_array()).ok_or_else(|| io(format!("reply without \"outputs\": {head}")))?;
    for o in outputs {
        let name = o.get("name").and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let dtype = o.get("dtype").and_then(|v| v.as_str()).unwrap_or_default();
        let size = dtype_size(dtype).ok_or_else(|| io(format!("output '{name}' has dtype '{dtype}'")))?;
        let shape = o.get("shape").and_then(|v| v.as_array()).ok_or_else(|| io(format!("output '{name}' without a shape")))?;
        let mut count = 1u64;
        for d in shape {
            let d = d.as_u64().ok_or_else(|| io(format!("output '{name}': shape {shape:?}")))?;
            count = count.checked_mul(d).ok_or_else(|| io(format!("output '{name}': shape {shape:?} overflows")))?;
        }
        let bytes = count.checked_mul(size as u64).filter(|&b| b < 1 << 34).ok_or_else(|| io(format!("output '{name}': too large")))?;
        let mut data = vec![0u8; bytes as usize];
        input.read_exact(&mut data).map_err(|e| io(format!("output '{name}': {e}")))?;
        let values: Vec<f32> = match dtype {
            "float32" => data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            "float16" => data.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
            _ => continue,
        };
        each(&name, &values)?;
    }
    Ok(())
}

/// A running engine on `model`: its input, its output (past the first frame) and the child to wait for.
struct Running {
    program: String,
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    reader: BufReader<std::process::ChildStdout>,
}

impl Running {
    fn start(engine: &[String], model: &str) -> Result<Running> {
        let (program, args) = engine.split_first().ok_or_else(|| Error::InvalidSpec("no engine command given".into()))?;
        let mut child = Command::new(program)
            .args(args)
            .arg(model)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| Error::Io { path: program.clone(), detail: format!("could not start the engine: {e}") })?;
        let stdin = child.stdin.take().ok_or_else(|| Error::Io { path: program.clone(), detail: "no stdin".into() })?;
        let stdout = child.stdout.take().ok_or_else(|| Error::Io { path: program.clone(), detail: "no stdout".into() })?;
        let mut reader = BufReader::new(stdout);
        read_header(&mut reader)?;
        Ok(Running { program: program.clone(), child, stdin, reader })
    }

    /// Sends batch `i` and hands the reply's float outputs to `each`.
    fn run(&mut self, i: usize, batch: &Batch, outputs: &[String], each: impl FnMut(&str, &[f32]) -> Result<()>) -> Result<()> {
        write_request(&mut self.stdin, batch, outputs).map_err(|e| Error::Io { path: self.program.clone(), detail: format!("batch {}: {e}", i + 1) })?;
        read_reply(&mut self.reader, each)
    }

    /// Closes the engine's input and waits for it to end well.
    fn finish(self) -> Result<()> {
        let Running { program, mut child, stdin, .. } = self;
        drop(stdin);
        let status = child.wait().map_err(|e| Error::Io { path: program.clone(), detail: e.to_string() })?;
        if !status.success() {
            return Err(Error::Io { path: program, detail: format!("the engine ended with {status}") });
        }
        Ok(())
    }
}

/// Runs every batch through `engine` (a command line; the exposed model's path is appended)
/// once per calibration pass, folding the exposed tensors into `calibration`.
pub fn calibrate_with_engine(engine: &[String], exposed_model: &str, batches: &[Batch], calibration: &mut PtqCalibration, mut progress: impl FnMut(usize, usize)) -> Result<PtqRanges> {
    for pass in 0..calibration.passes() {
        if pass == 1 {
            calibration.next_pass()?;
        }
        let mut running = Running::start(engine, exposed_model)?;
        let wanted = calibration.tensors().to_vec();
        for (i, b) in batches.iter().enumerate() {
            running.run(i, b, &wanted, |name, values| {
                if calibration.tensors().iter().any(|t| t == name) {
                    calibration.add_batch(name, values)?;
                }
                Ok(())
            })?;
            progress(pass * batches.len() + i + 1, calibration.passes() * batches.len());
        }
        running.finish()?;
    }
    calibration.ranges()
}

/// Runs every batch through `model` on `engine` and returns float output `output` of all batches
/// back to back (the page's evaluate in www/worker/ptq-evaluate.js: one sample per run, in order).
pub fn run_output_with_engine(engine: &[String], model: &str, batches: &[Batch], output: &str) -> Result<Vec<f32>> {
    let mut running = Running::start(engine, model)?;
    let wanted = [output.to_string()];
    let mut values = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        let mut got = false;
        running.run(i, b, &wanted, |name, v| {
            if name == output {
                values.extend_from_slice(v);
                got = true;
            }
            Ok(())
        })?;
        if !got {
            return Err(io(format!("sample {}: no float output '{output}' in the reply ({model})", i + 1)));
        }
    }
    running.finish()?;
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(header: &str, body: &[u8]) -> Vec<u8> {
        let mut b = (header.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.extend_from_slice(body);
        b
    }

    #[test]
    fn a_reply_is_read_tensor_by_tensor() {
        let mut body = Vec::new();
        for v in [1.5f32, -2.0, 7.0] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        body.extend_from_slice(&half::f16::from_f32(0.5).to_le_bytes());
        body.extend_from_slice(&3i64.to_le_bytes());
        let head = r#"{"outputs":[{"name":"a","dtype":"float32","shape":[2]},{"name":"b","dtype":"float32","shape":[]},{"name":"h","dtype":"float16","shape":[1]},{"name":"i","dtype":"int64","shape":[1]}]}"#;
        let bytes = frame(head, &body);
        let mut got = Vec::new();
        read_reply(&mut &bytes[..], |n, v| {
            got.push((n.to_string(), v.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(got, vec![("a".into(), vec![1.5, -2.0]), ("b".into(), vec![7.0]), ("h".into(), vec![0.5])]);
        let short = frame(r#"{"outputs":[{"name":"a","dtype":"float32","shape":[2]}]}"#, &[0, 0]);
        let err = read_reply(&mut &short[..], |_, _| Ok(())).unwrap_err().to_string();
        assert!(err.contains("output 'a'"), "{err}");
        let said = frame(r#"{"error":"no such input 'y'"}"#, &[]);
        let err = read_reply(&mut &said[..], |_, _| Ok(())).unwrap_err().to_string();
        assert!(err.contains("says: no such input 'y'"), "{err}");
        let err = read_reply(&mut &b""[..], |_, _| Ok(())).unwrap_err().to_string();
        assert!(err.contains("ended without answering"), "{err}");
    }
}
