//! The embedded example (src/app/example): the accuracy table, confusion matrix, misclassified digits
//! and predictions for drawn digits. The model is quantized and calibrated once by the constructor.

use super::{js_err, to_json};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    // performance.now() exists in windows and workers alike.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Milliseconds from performance.now() (the clock of the example's timings; tests use it too).
pub fn now_ms() -> f64 {
    performance_now()
}

/// The example model in every configuration of the table, built from the bytes of its four files.
#[wasm_bindgen]
pub struct ExampleModel(crate::app::example::Evaluation);

#[wasm_bindgen]
impl ExampleModel {
    /// safetensors (fc1..fcN), test features .npy [N, k], test labels .npy [N], calibration features .npy.
    /// `configs`: comma-separated names, or "" for the whole table.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &[u8], test_x: &[u8], test_y: &[u8], calib_x: &[u8], configs: &str) -> Result<ExampleModel, JsError> {
        let example = crate::app::example::Example::from_bytes(model, test_x, test_y, calib_x).map_err(js_err)?;
        let configs = if configs.trim().is_empty() {
            crate::app::example::Config::all()
        } else {
            configs.split(',').map(crate::app::example::Config::parse).collect::<Result<Vec<_>, _>>().map_err(js_err)?
        };
        crate::app::example::Evaluation::prepare(example, &configs).map(ExampleModel).map_err(js_err)
    }

    /// The names of the prepared configurations, as a JSON array.
    pub fn configs(&self) -> String {
        let names: Vec<String> = self.0.models.iter().map(|m| m.config.name()).collect();
        serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())
    }

    /// The table as `quant-playground eval --json` prints it ({"rows": [...], ...}), plus "worst",
    /// "confusion" (its [true][predicted] counts) and up to `misclassified` of its wrong test digits.
    pub fn evaluate(&self, repeats: usize, misclassified: usize) -> Result<String, JsError> {
        let report = self.0.run(&now_ms, repeats).map_err(js_err)?;
        to_json("report", &self.0.page_report(report, misclassified))
    }

    /// One input (`in_features` values on the test split's scale: pixels / 16 for the digits) in one
    /// configuration: {"config", "class", "logits", "probabilities"}.
    pub fn predict(&self, config: &str, pixels: &[f32]) -> Result<String, JsError> {
        to_json("prediction", &self.0.predict(config, pixels).map_err(js_err)?)
    }

    /// The predicted class only.
    pub fn predict_class(&self, config: &str, pixels: &[f32]) -> Result<u32, JsError> {
        Ok(self.0.predict(config, pixels).map_err(js_err)?.class)
    }

    /// Test example `index`'s features (to draw it) — the page can also take them from `evaluate`.
    pub fn test_example(&self, index: usize) -> Result<Vec<f32>, JsError> {
        let ex = &self.0.example;
        let k = ex.mlp.in_features();
        if index >= ex.test_rows {
            return Err(JsError::new(&format!("test example {index} of {}", ex.test_rows)));
        }
        Ok(ex.test_x[index * k..(index + 1) * k].to_vec())
    }

    pub fn test_label(&self, index: usize) -> Option<u32> {
        self.0.example.test_y.get(index).copied()
    }

    pub fn in_features(&self) -> usize {
        self.0.example.mlp.in_features()
    }

    pub fn classes(&self) -> usize {
        self.0.example.mlp.out_features()
    }
}
