//! Seeded synthetic tensors: the page's default example before a file is dropped, and test data.
//! PCG-64 (rand_pcg's Lcg128Xsl64) is fixed by its spec, so a seed gives the same values everywhere.

use crate::formats::safetensors;
use crate::tensor::DType;
use rand_distr::{Distribution, Normal, Uniform};
use rand_pcg::Pcg64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dist {
    Gaussian,
    Laplace,
    ReluGaussian,
    /// Gaussian with 0.1% of the values replaced by ±20σ outliers.
    GaussianOutliers,
    /// LLM-like activations: rows of `LLM_CHANNELS` channels, a few of which (every 97th) run 30×
    /// larger than the rest, as the outlier features of large transformers do (Dettmers et al. 2022,
    /// LLM.int8(), arXiv 2208.07339).
    LlmLike,
}

/// Channels per row of `Dist::LlmLike` (a hidden size).
pub const LLM_CHANNELS: usize = 768;

impl Dist {
    pub const ALL: [Dist; 5] = [Dist::Gaussian, Dist::Laplace, Dist::ReluGaussian, Dist::GaussianOutliers, Dist::LlmLike];

    /// The name the CLI and the page use.
    pub fn name(self) -> &'static str {
        match self {
            Dist::Gaussian => "gaussian",
            Dist::Laplace => "laplace",
            Dist::ReluGaussian => "relu-gaussian",
            Dist::GaussianOutliers => "gaussian-outliers",
            Dist::LlmLike => "llm-like",
        }
    }

    pub fn parse(text: &str) -> crate::Result<Dist> {
        Dist::ALL.into_iter().find(|d| d.name() == text).ok_or_else(|| {
            let names: Vec<&str> = Dist::ALL.iter().map(|d| d.name()).collect();
            crate::Error::InvalidSpec(format!("distribution '{text}': expected one of {}", names.join(", ")))
        })
    }
}

/// A fresh seed from the operating system (the browser's crypto.getRandomValues in wasm), shown to the
/// person so that they can type it back in to reproduce the same data.
pub fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // 2^53 − 1 at most, so the seed survives a trip through a JavaScript number.
    getrandom::fill(&mut b).map(|_| u64::from_le_bytes(b) >> 11).unwrap_or(42)
}

fn rng(seed: u64) -> Pcg64 {
    use rand_core::SeedableRng;
    Pcg64::seed_from_u64(seed)
}

/// `n` values of `dist` with standard deviation `sigma`, from `seed`.
pub fn generate(dist: Dist, n: usize, sigma: f32, seed: u64) -> Vec<f32> {
    let mut r = rng(seed);
    let normal = Normal::new(0.0f32, sigma).expect("sigma is finite and positive");
    let unit = Uniform::new(0.0f32, 1.0).expect("valid range");
    match dist {
        Dist::Gaussian => (0..n).map(|_| normal.sample(&mut r)).collect(),
        Dist::ReluGaussian => (0..n).map(|_| normal.sample(&mut r).max(0.0)).collect(),
        Dist::Laplace => {
            // Inverse CDF with scale b = σ/√2 so the standard deviation is σ.
            let b = sigma / std::f32::consts::SQRT_2;
            (0..n)
                .map(|_| {
                    let u = unit.sample(&mut r) - 0.5;
                    -b * u.signum() * (1.0 - 2.0 * u.abs()).max(f32::MIN_POSITIVE).ln()
                })
                .collect()
        }
        Dist::LlmLike => (0..n)
            .map(|i| {
                let v = normal.sample(&mut r);
                if (i % LLM_CHANNELS) % 97 == 13 { 30.0 * v } else { v }
            })
            .collect(),
        Dist::GaussianOutliers => (0..n)
            .map(|_| {
                let v = normal.sample(&mut r);
                if unit.sample(&mut r) < 0.001 {
                    20.0 * sigma * v.signum()
                } else {
                    v
                }
            })
            .collect(),
    }
}

/// A synthetic activation set as a safetensors file in memory, so that the page and the CLI open it
/// like any dropped file: one F32 tensor `activations` of `rows` × 768 values (the row length of
/// `Dist::LlmLike`), the distribution and the seed in `__metadata__`.
pub fn activations_safetensors(dist: Dist, rows: usize, seed: u64) -> Vec<u8> {
    let x = generate(dist, rows * LLM_CHANNELS, 1.0, seed);
    let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let seed_text = seed.to_string();
    safetensors::write(
        &[("activations", DType::F32, &[rows, LLM_CHANNELS], &bytes)],
        &[("source", "quant-playground synthetic activations"), ("distribution", dist.name()), ("seed", &seed_text)],
    )
}

/// The page's example before a file is dropped: a small safetensors "model" with an MLP-like set of
/// weights (one with outlier channels, as LLM weights have) and a bias, all made from `seed`.
pub fn example_safetensors(seed: u64) -> Vec<u8> {
    let le = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let fc1 = generate(Dist::Gaussian, 256 * 64, 0.125, seed);
    let mut fc2 = generate(Dist::Laplace, 128 * 256, 0.0625, seed + 1);
    // Three output channels ten times larger than the rest: per-tensor scales suffer, per-channel do not.
    for row in [5usize, 77, 100] {
        for v in &mut fc2[row * 256..(row + 1) * 256] {
            *v *= 10.0;
        }
    }
    let head = generate(Dist::GaussianOutliers, 10 * 128, 0.09, seed + 2);
    let bias = generate(Dist::Gaussian, 256, 0.02, seed + 3);
    let (fc1, fc2, head, bias) = (le(&fc1), le(&fc2), le(&head), le(&bias));
    let seed_text = seed.to_string();
    safetensors::write(
        &[
            ("fc1.weight", DType::F32, &[256, 64], &fc1),
            ("fc1.bias", DType::F32, &[256], &bias),
            ("fc2.weight", DType::F32, &[128, 256], &fc2),
            ("head.weight", DType::F32, &[10, 128], &head),
        ],
        &[("source", "quant-playground synthetic example"), ("seed", &seed_text)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_shaped() {
        let a = generate(Dist::Gaussian, 10_000, 1.0, 7);
        assert_eq!(a, generate(Dist::Gaussian, 10_000, 1.0, 7));
        assert_ne!(a, generate(Dist::Gaussian, 10_000, 1.0, 8));
        let mean: f32 = a.iter().sum::<f32>() / a.len() as f32;
        let var: f32 = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / a.len() as f32;
        assert!(mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean} var {var}");
        let l = generate(Dist::Laplace, 20_000, 1.0, 3);
        let lvar: f32 = l.iter().map(|v| v * v).sum::<f32>() / l.len() as f32;
        assert!((lvar - 1.0).abs() < 0.1, "laplace var {lvar}");
        assert!(generate(Dist::ReluGaussian, 1000, 1.0, 1).iter().all(|&v| v >= 0.0));
        let o = generate(Dist::GaussianOutliers, 100_000, 1.0, 1);
        let outliers = o.iter().filter(|v| v.abs() == 20.0).count();
        assert!((50..=150).contains(&outliers), "{outliers}");
    }

    #[test]
    fn llm_like_has_outlier_channels_and_files_say_their_seed() {
        let x = generate(Dist::LlmLike, 4 * LLM_CHANNELS, 1.0, 5);
        let rms = |c: usize| ((0..4).map(|r| x[r * LLM_CHANNELS + c].powi(2)).sum::<f32>() / 4.0).sqrt();
        let outliers: Vec<usize> = (0..LLM_CHANNELS).filter(|c| c % 97 == 13).collect();
        assert_eq!(outliers.len(), 8);
        let big: f32 = outliers.iter().map(|&c| rms(c)).sum::<f32>() / 8.0;
        let small: f32 = (0..LLM_CHANNELS).filter(|c| c % 97 != 13).map(rms).sum::<f32>() / (LLM_CHANNELS - 8) as f32;
        assert!(big > 10.0 * small, "{big} vs {small}");
        let f = activations_safetensors(Dist::LlmLike, 4, 99);
        let idx = crate::formats::parse_index("a.safetensors", &f, f.len() as u64).unwrap();
        assert_eq!(idx.tensors[0].shape, vec![4, LLM_CHANNELS]);
        assert!(idx.metadata.contains(&("seed".to_string(), "99".to_string())));
        assert_eq!(Dist::parse("relu-gaussian").unwrap(), Dist::ReluGaussian);
        assert!(Dist::parse("cauchy").is_err());
    }

    #[test]
    fn example_parses() {
        let f = example_safetensors(42);
        let idx = crate::formats::parse_index("example.safetensors", &f, f.len() as u64).unwrap();
        assert_eq!(idx.tensors.len(), 4);
    }
}
