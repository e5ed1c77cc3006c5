//! The search structure ggml's IQ3 quantizers share (ggml-quants.c iq3xs_init_impl and
//! iq3_find_best_neighbour), rebuilt from the generated grid instead of ggml's kgrid tables: each grid
//! point as 4 levels l (value 2l + 1, l in 0..8), the map from a point's 12-bit code Σ l_i·8^i to its
//! grid index, and for every code off the grid its neighbours: the grid points at its `nwant`
//! smallest squared distances (2 for IQ3_XXS's 256 points, 3 for IQ3_S's 512).

use super::k_quants::nearest_int;

pub(super) struct Lattice {
    pub(super) levels: Vec<[u8; 4]>,
    /// Grid index of each code, or None off the grid.
    map: Vec<Option<u16>>,
    /// For each code off the grid, its neighbours (nearest first, lower index first on ties).
    neighbours: Vec<Vec<u16>>,
}

impl Lattice {
    pub(super) fn new(levels: Vec<[u8; 4]>, nwant: usize) -> Lattice {
        let mut map = vec![None; 4096];
        for (k, l) in levels.iter().enumerate() {
            map[code(&l.map(|v| v as i8))] = Some(k as u16);
        }
        let neighbours = (0..4096)
            .map(|u| {
                if map[u].is_some() {
                    return Vec::new();
                }
                let pos: [i32; 4] = std::array::from_fn(|i| 2 * ((u >> (3 * i)) & 7) as i32 + 1);
                let mut dist: Vec<(i32, u16)> = levels
                    .iter()
                    .enumerate()
                    .map(|(j, l)| ((0..4).map(|i| (2 * l[i] as i32 + 1 - pos[i]).pow(2)).sum(), j as u16))
                    .collect();
                dist.sort_unstable(); // iq3_compare_func: distance, then index
                let mut distinct = 0;
                let mut last = -1;
                dist.iter()
                    .take_while(|&&(d, _)| {
                        if d != last {
                            distinct += 1;
                            last = d;
                        }
                        distinct <= nwant
                    })
                    .map(|&(_, j)| j)
                    .collect()
            })
            .collect();
        Lattice { levels, map, neighbours }
    }

    /// The grid index of 4 levels, None off the grid.
    pub(super) fn index(&self, l: &[i8]) -> Option<u16> {
        self.map[code(l)]
    }

    /// The levels of grid point `g`.
    pub(super) fn set_levels(&self, g: u16, l: &mut [i8]) {
        for (v, &p) in l.iter_mut().zip(&self.levels[g as usize]) {
            *v = p as i8;
        }
    }

    /// 4 levels on the grid: their own point, else iq3_find_best_neighbour's (the neighbour of
    /// minimal Σ w·(scale·q − x)², the first on ties), whose levels replace `l`. Returns (index, on grid).
    pub(super) fn snap(&self, xval: &[f32], w: &[f32], scale: f32, l: &mut [i8]) -> (u16, bool) {
        if let Some(g) = self.index(l) {
            return (g, true);
        }
        let mut best_d2 = f32::MAX;
        let neighbours = &self.neighbours[code(l)];
        let mut best = neighbours[0];
        for &j in neighbours {
            let mut d2 = 0.0f32;
            for i in 0..4 {
                let q = (2 * self.levels[j as usize][i] + 1) as f32;
                let diff = scale * q - xval[i];
                d2 += w[i] * diff * diff;
            }
            if d2 < best_d2 {
                best_d2 = d2;
                best = j;
            }
        }
        self.set_levels(best, l);
        (best, false)
    }
}

/// The 12-bit code of 4 levels.
fn code(l: &[i8]) -> usize {
    (0..4).map(|i| (l[i] as usize) << (3 * i)).sum()
}

/// Levels of 4 values at inverse scale `id`: nearest_int(0.5·(id·x − 1)) clamped to 0..7.
pub(super) fn round_levels(xval: &[f32], id: f32, l: &mut [i8]) {
    for i in 0..4 {
        l[i] = nearest_int(0.5 * (id * xval[i] - 1.0)).clamp(0, 7) as i8;
    }
}

/// Σw·x·q and Σw·q² with q = 2l + 1, over one group of 32.
pub(super) fn fit(weight: &[f32], xval: &[f32], l: &[i8]) -> (f32, f32) {
    let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
    for i in 0..32 {
        let (w, q) = (weight[i], (2 * l[i] as i32 + 1) as f32);
        sumqx += w * xval[i] * q;
        sumq2 += w * q * q;
    }
    (sumqx, sumq2)
}

/// The x²-weighted search both IQ3 quantizers make for one group of 32 (absolute values `xval`): the
/// scale of the best fit over the tries (15 + 0.2·is)/max, is in `tries`, each group of 4 rounded and
/// snapped onto the grid; then the groups the best try left off the grid (every group with
/// `redo_all`, as IQ3_S does) rounded again at that scale and the scale refitted. Returns the scale
/// and leaves the levels in `l`.
pub(super) fn search_scale(
    lat: &Lattice,
    weight: &[f32; 32],
    xval: &[f32; 32],
    max: f32,
    tries: std::ops::RangeInclusive<i32>,
    redo_all: bool,
    l: &mut [i8; 32],
) -> f32 {
    const KMAXQ: i32 = 8;
    let waux: [f32; 32] = std::array::from_fn(|i| weight[i].sqrt());
    let mut laux = [0i8; 32];
    let (mut on_grid, mut on_grid_aux) = ([false; 8], [false; 8]);
    let mut best = 0.0f32;
    let mut scale = max / (2 * KMAXQ - 1) as f32;
    for is in tries {
        let id = ((2 * KMAXQ - 1) as f32 + is as f32 * 0.2) / max;
        let this_scale = 1.0 / id;
        for k in 0..8 {
            round_levels(&xval[4 * k..], id, &mut laux[4 * k..]);
            on_grid_aux[k] = lat.snap(&xval[4 * k..], &waux[4 * k..], this_scale, &mut laux[4 * k..]).1;
        }
        let (sumqx, sumq2) = fit(weight, xval, &laux);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            *l = laux;
            on_grid = on_grid_aux;
        }
    }
    if on_grid.iter().any(|g| !g) && scale > 0.0 {
        let id = 1.0 / scale;
        for k in (0..8).filter(|&k| redo_all || !on_grid[k]) {
            let mut lk = [0i8; 4];
            round_levels(&xval[4 * k..], id, &mut lk);
            let (g, _) = lat.snap(&xval[4 * k..], &waux[4 * k..], scale, &mut lk);
            lat.set_levels(g, &mut l[4 * k..4 * k + 4]);
        }
        let (sumqx, sumq2) = fit(weight, xval, l);
        if sumq2 > 0.0 {
            scale = sumqx / sumq2;
        }
    }
    scale
}
