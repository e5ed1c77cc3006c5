//! The search structure ggml's lattice quantizers share (ggml-quants.c iq3xs_init_impl /
//! iq2xs_init_impl and iq3_find_best_neighbour / iq2_find_best_neighbour), rebuilt from the generated
//! grids instead of ggml's kgrid tables: each grid point as N levels l (value 2l + 1), the map from a
//! point's code Σ l_i·2^(bits·i) to its grid index, and for every code off the grid its neighbours:
//! the grid points at its `nwant` smallest squared distances (IQ3_XXS 2, IQ3_S 3, IQ2_S 1). Only the
//! codes a quantizer can form (every level ≤ max_level) get neighbour lists.

use super::k_quants::nearest_int;

pub(super) struct Lattice<const N: usize> {
    bits: u32,
    levels: Vec<[u8; N]>,
    /// Grid index of each code, or None off the grid.
    map: Vec<Option<u16>>,
    /// For each code off the grid, its neighbours (nearest first, lower index first on ties).
    neighbours: Vec<Vec<u16>>,
}

impl<const N: usize> Lattice<N> {
    pub(super) fn new(levels: Vec<[u8; N]>, bits: u32, max_level: usize, nwant: usize) -> Lattice<N> {
        let size = 1usize << (bits as usize * N);
        let code = |l: &[u8; N]| l.iter().enumerate().map(|(i, &v)| (v as usize) << (bits as usize * i)).sum::<usize>();
        let mut map = vec![None; size];
        for (k, l) in levels.iter().enumerate() {
            map[code(l)] = Some(k as u16);
        }
        let digit = |u: usize, i: usize| (u >> (bits as usize * i)) & ((1 << bits) - 1);
        let neighbours = (0..size)
            .map(|u| {
                if map[u].is_some() || (0..N).any(|i| digit(u, i) > max_level) {
                    return Vec::new();
                }
                let mut dist: Vec<(i32, u16)> = levels
                    .iter()
                    .enumerate()
                    .map(|(j, l)| ((0..N).map(|i| (2 * (l[i] as i32 - digit(u, i) as i32)).pow(2)).sum(), j as u16))
                    .collect();
                dist.sort_unstable(); // iq*_compare_func: distance, then index
                let (mut distinct, mut last) = (0, -1);
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
        Lattice { bits, levels, map, neighbours }
    }

    fn code(&self, l: &[i8]) -> usize {
        (0..N).map(|i| (l[i] as usize) << (self.bits as usize * i)).sum()
    }

    /// The grid index of N levels, None off the grid.
    pub(super) fn index(&self, l: &[i8]) -> Option<u16> {
        self.map[self.code(l)]
    }

    /// The neighbour list of an off-grid code (empty on the grid).
    pub(super) fn neighbours_of(&self, l: &[i8]) -> &[u16] {
        &self.neighbours[self.code(l)]
    }

    /// The levels of grid point `g`.
    pub(super) fn levels_of(&self, g: u16) -> &[u8; N] {
        &self.levels[g as usize]
    }

    /// N levels on the grid: their own point, else the find_best_neighbour one (the neighbour of
    /// minimal Σ w·(scale·q − x)², the first on ties), whose levels replace `l`. Returns (index, on grid).
    pub(super) fn snap(&self, xval: &[f32], w: &[f32], scale: f32, l: &mut [i8]) -> (u16, bool) {
        if let Some(g) = self.index(l) {
            return (g, true);
        }
        let neighbours = &self.neighbours[self.code(l)];
        let (mut best_d2, mut best) = (f32::MAX, neighbours[0]);
        for &j in neighbours {
            let mut d2 = 0.0f32;
            for i in 0..N {
                let q = (2 * self.levels[j as usize][i] + 1) as f32;
                let diff = scale * q - xval[i];
                d2 += w[i] * diff * diff;
            }
            if d2 < best_d2 {
                best_d2 = d2;
                best = j;
            }
        }
        for (v, &p) in l.iter_mut().zip(&self.levels[best as usize]) {
            *v = p as i8;
        }
        (best, false)
    }
}

/// How one quantizer searches a group's scale (the constants of its quantize_row_*_impl).
pub(super) struct SearchRule {
    /// kMaxQ: levels 0..kMaxQ, values 1, 3, …, 2·kMaxQ − 1.
    pub(super) kmaxq: i32,
    /// The tries: id = (2·kMaxQ − 1 + is·step) / max for is in −tries..=tries.
    pub(super) tries: i32,
    pub(super) step: f32,
    /// Whether the groups count as on the grid before any try fits (IQ2_S's is_on_grid = true).
    pub(super) start_on_grid: bool,
    /// Whether the second pass redoes every point (IQ3_S) or only those off the grid.
    pub(super) redo_all: bool,
}

/// The weighted search of one group of G values (absolute values `xval`), N per grid point: the scale
/// of the best fit Σw·x·q / Σw·q² over the tries, each point rounded (nearest_int(0.5·(id·x − 1))
/// clamped) and snapped onto the grid at the try's scale; then the points that fit left off the grid
/// (or all of them) rounded again at that scale, snapped, and the scale refitted. Returns the scale;
/// the levels are left in `l` (as ggml's L buffer, it keeps its old levels if no try fits).
pub(super) fn search_scale<const N: usize, const G: usize>(
    lat: &Lattice<N>,
    weight: &[f32; G],
    xval: &[f32; G],
    max: f32,
    rule: &SearchRule,
    l: &mut [i8; G],
) -> f32 {
    let top = (2 * rule.kmaxq - 1) as f32;
    let round = |x: &[f32], id: f32, l: &mut [i8]| {
        for i in 0..N {
            l[i] = nearest_int(0.5 * (id * x[i] - 1.0)).clamp(0, rule.kmaxq - 1) as i8;
        }
    };
    let fit = |l: &[i8; G]| {
        let (mut sumqx, mut sumq2) = (0.0f32, 0.0f32);
        for i in 0..G {
            let (w, q) = (weight[i], (2 * l[i] as i32 + 1) as f32);
            sumqx += w * xval[i] * q;
            sumq2 += w * q * q;
        }
        (sumqx, sumq2)
    };
    let waux: [f32; G] = std::array::from_fn(|i| weight[i].sqrt());
    let mut laux = [0i8; G];
    let mut on_grid = [rule.start_on_grid; 8];
    let mut on_grid_aux = [false; 8];
    let mut best = 0.0f32;
    let mut scale = max / top;
    for is in -rule.tries..=rule.tries {
        let id = (top + is as f32 * rule.step) / max;
        let this_scale = 1.0 / id;
        for k in 0..G / N {
            let p = N * k..N * k + N;
            round(&xval[p.clone()], id, &mut laux[p.clone()]);
            on_grid_aux[k] = lat.snap(&xval[p.clone()], &waux[p.clone()], this_scale, &mut laux[p]).1;
        }
        let (sumqx, sumq2) = fit(&laux);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            scale = sumqx / sumq2;
            best = scale * sumqx;
            *l = laux;
            on_grid = on_grid_aux;
        }
    }
    if on_grid[..G / N].iter().any(|g| !g) && scale > 0.0 {
        let id = 1.0 / scale;
        for k in (0..G / N).filter(|&k| rule.redo_all || !on_grid[k]) {
            let p = N * k..N * k + N;
            round(&xval[p.clone()], id, &mut l[p.clone()]);
            lat.snap(&xval[p.clone()], &waux[p.clone()], scale, &mut l[p]);
        }
        let (sumqx, sumq2) = fit(l);
        if sumq2 > 0.0 {
            scale = sumqx / sumq2;
        }
    }
    scale
}
