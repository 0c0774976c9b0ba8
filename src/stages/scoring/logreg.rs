//! The fit behind the learned intent option: multinomial logistic regression with an L2
//! penalty, solved to its optimum by L-BFGS (`argmin`) over sparse weighted feature vectors.
//!
//! Contract: [`fit`] returns `k` rows of `n` weights then `k` biases (the layout
//! [`super::model::Model::train`] unpacks), or `None` when the solver fails; it is
//! deterministic for a given input.

use argmin::core::{CostFunction, Executor, Gradient};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::model::Vector;

/// Minimises the summed log-loss plus `|w|² / (2c)` over `x` (columns `0..n`) with labels `y`
/// in `0..k`, for at most `max_iters` L-BFGS iterations.
pub fn fit(
    x: &[Vector],
    y: &[usize],
    k: usize,
    n: usize,
    c: f64,
    max_iters: u64,
) -> Option<Vec<f64>> {
    let problem = Objective {
        x,
        y,
        k,
        n,
        lambda: 1.0 / c.max(1e-9),
    };
    let init = vec![0f64; k * n + k];
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(1e-6)
        .ok()?;
    Executor::new(problem, solver)
        .configure(|s| s.param(init).max_iters(max_iters))
        .run()
        .ok()?
        .state()
        .best_param
        .clone()
}

/// Summed log-loss of the softmax model plus `lambda / 2 · |w|²` (biases unpenalised), over
/// parameters laid out as `k` rows of `n` weights (the used buckets), then `k` biases.
struct Objective<'a> {
    x: &'a [Vector],
    y: &'a [usize],
    k: usize,
    n: usize,
    lambda: f64,
}

impl Objective<'_> {
    fn eval(&self, p: &[f64], mut grad: Option<&mut [f64]>) -> f64 {
        let (k, n) = (self.k, self.n);
        let bias = k * n;
        let mut z = vec![0f64; k];
        let mut loss = 0.0;
        for (v, &y) in self.x.iter().zip(self.y) {
            for (c, zc) in z.iter_mut().enumerate() {
                let row = &p[c * n..(c + 1) * n];
                *zc = p[bias + c]
                    + v.iter()
                        .map(|&(j, x)| f64::from(x) * row[j as usize])
                        .sum::<f64>();
            }
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let lse = max + z.iter().map(|zc| (zc - max).exp()).sum::<f64>().ln();
            loss += lse - z[y];
            if let Some(g) = grad.as_deref_mut() {
                for (c, zc) in z.iter().enumerate() {
                    let err = (zc - lse).exp() - f64::from(u8::from(c == y));
                    g[bias + c] += err;
                    for &(j, x) in v {
                        g[c * n + j as usize] += err * f64::from(x);
                    }
                }
            }
        }
        let w = &p[..bias];
        loss += 0.5 * self.lambda * w.iter().map(|w| w * w).sum::<f64>();
        if let Some(g) = grad {
            for (g, w) in g.iter_mut().zip(w) {
                *g += self.lambda * w;
            }
        }
        loss
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.eval(p, None))
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        let mut g = vec![0f64; p.len()];
        self.eval(p, Some(&mut g));
        Ok(g)
    }
}
