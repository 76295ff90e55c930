//! Percentiles and the two-sample tests the timing section reports.

/// The value at quantile `q` (0..=1) of sorted `values` (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values
}

pub fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len().max(1) as f64
}

/// Milliseconds, for latency tables.
pub fn ms(seconds: f64) -> String {
    if seconds.is_nan() {
        return "–".to_owned();
    }
    format!("{:.1}", seconds * 1000.0)
}

/// p50 and p99 of latencies in seconds, as "p50 / p99" in milliseconds.
pub fn p50_p99(latencies: &[f64]) -> String {
    let sorted = sorted(latencies);
    format!(
        "{} / {}",
        ms(quantile(&sorted, 0.5)),
        ms(quantile(&sorted, 0.99))
    )
}

/// The complementary error function (Numerical Recipes' erfcc; relative error under 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Two-sided p-value of a standard normal statistic.
pub fn two_sided_p(z: f64) -> f64 {
    erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// Mann-Whitney U test of `a` against `b` (normal approximation, average ranks for ties, no tie
/// correction of the variance, which makes the p-value slightly conservative). Returns the z
/// statistic (positive when `a` tends to be larger) and the two-sided p-value.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> (f64, f64) {
    let mut all: Vec<(f64, bool)> = a
        .iter()
        .map(|v| (*v, true))
        .chain(b.iter().map(|v| (*v, false)))
        .collect();
    all.sort_by(|x, y| x.0.total_cmp(&y.0));
    let mut rank_sum_a = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j + 1 < all.len() && all[j + 1].0 == all[i].0 {
            j += 1;
        }
        let average_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_a += all[i..=j].iter().filter(|(_, in_a)| *in_a).count() as f64 * average_rank;
        i = j + 1;
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let u = rank_sum_a - n1 * (n1 + 1.0) / 2.0;
    let mean_u = n1 * n2 / 2.0;
    let sd_u = (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt();
    let z = (u - mean_u) / sd_u;
    (z, two_sided_p(z))
}

/// Welch's t statistic of `a` against `b`, and its two-sided p-value (normal approximation:
/// with thousands of samples the t distribution is the normal one).
pub fn welch(a: &[f64], b: &[f64]) -> (f64, f64) {
    let variance = |v: &[f64], m: f64| {
        v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len().max(2) - 1) as f64
    };
    let (ma, mb) = (mean(a), mean(b));
    let se = (variance(a, ma) / a.len() as f64 + variance(b, mb) / b.len() as f64).sqrt();
    let t = (ma - mb) / se;
    (t, two_sided_p(t))
}

/// `values` without the top 1% (latency outliers from the scheduler, not from the code).
pub fn trimmed(values: &[f64]) -> Vec<f64> {
    let sorted = sorted(values);
    let keep = (sorted.len() as f64 * 0.99).ceil() as usize;
    sorted[..keep.min(sorted.len())].to_vec()
}
