//! Min-max over batches, and its moving-average variant.
//! Moving average as onnxruntime's `MinMaxCalibrater(moving_average=True)`: the first batch sets the
//! range, each later one moves it by `c · (batch − old)` (averaging_constant c, default 0.01).

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MinMax {
    pub min: f32,
    pub max: f32,
    pub avg_min: f32,
    pub avg_max: f32,
    /// Batches that had at least one finite value.
    pub batches: usize,
}

impl Default for MinMax {
    fn default() -> Self {
        MinMax { min: f32::INFINITY, max: f32::NEG_INFINITY, avg_min: 0.0, avg_max: 0.0, batches: 0 }
    }
}

impl MinMax {
    /// Folds one batch's finite extremes (from `kernels::min_max_finite`); batches with none are skipped.
    pub fn add_extremes(&mut self, lo: f32, hi: f32, averaging_constant: f32) {
        if lo > hi {
            return;
        }
        self.min = self.min.min(lo);
        self.max = self.max.max(hi);
        if self.batches == 0 {
            (self.avg_min, self.avg_max) = (lo, hi);
        } else {
            self.avg_min += averaging_constant * (lo - self.avg_min);
            self.avg_max += averaging_constant * (hi - self.avg_max);
        }
        self.batches += 1;
    }

    /// The global range; [0, 0] when no finite value was seen.
    pub fn range(&self) -> (f32, f32) {
        if self.batches == 0 {
            (0.0, 0.0)
        } else {
            (self.min, self.max)
        }
    }

    pub fn moving_average_range(&self) -> (f32, f32) {
        if self.batches == 0 {
            (0.0, 0.0)
        } else {
            (self.avg_min, self.avg_max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_and_moving_average() {
        let mut m = MinMax::default();
        m.add_extremes(-1.0, 1.0, 0.5);
        m.add_extremes(-3.0, 2.0, 0.5);
        m.add_extremes(f32::INFINITY, f32::NEG_INFINITY, 0.5); // a batch with no finite value
        assert_eq!(m.range(), (-3.0, 2.0));
        assert_eq!(m.moving_average_range(), (-2.0, 1.5));
        assert_eq!(MinMax::default().range(), (0.0, 0.0));
    }
}
