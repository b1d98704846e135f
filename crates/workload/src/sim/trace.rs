//! Reading PlanetLab traces: one folder per day, one file per VM, 288
//! integer CPU percentages (one per 5 minutes).

use std::path::{Path, PathBuf};

use crate::error::{Result, WorkloadError};

/// Samples per day (24 h at 300 s).
pub const SAMPLES_PER_DAY: usize = 288;

/// One day of traces: VM `i` is driven by the `i`-th file in name order.
#[derive(Debug, Clone)]
pub struct DayTrace {
    /// Folder name, e.g. `20110303`.
    pub day: String,
    /// Per VM: 289 utilization fractions (the 288 samples and the last
    /// one repeated, so interpolation past the last sample is defined).
    pub vms: Vec<Vec<f64>>,
}

/// The day folders under `dir`, sorted; `dir` itself if it holds files.
pub fn discover_days(dir: &Path) -> Result<Vec<PathBuf>> {
    let read = |p: &Path| {
        std::fs::read_dir(p).map_err(|source| WorkloadError::ReadTrace {
            path: p.to_path_buf(),
            source,
        })
    };
    let mut days = Vec::new();
    let mut has_files = false;
    for entry in read(dir)? {
        let entry = entry.map_err(|source| WorkloadError::ReadTrace {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            days.push(path);
        } else {
            has_files = true;
        }
    }
    if has_files || days.is_empty() {
        return Ok(vec![dir.to_path_buf()]);
    }
    days.sort();
    Ok(days)
}

/// Reads one day folder.
pub fn load_day(dir: &Path) -> Result<DayTrace> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| WorkloadError::ReadTrace {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut vms = Vec::with_capacity(files.len());
    for path in &files {
        vms.push(load_file(path)?);
    }
    let day = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(DayTrace { day, vms })
}

fn load_file(path: &Path) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path).map_err(|source| WorkloadError::ReadTrace {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::with_capacity(SAMPLES_PER_DAY + 1);
    for (i, line) in text.lines().enumerate().take(SAMPLES_PER_DAY) {
        let v: u32 = line.trim().parse().map_err(|_| WorkloadError::ParseTrace {
            path: path.to_path_buf(),
            line: i + 1,
            message: format!("expected an integer percentage, found {:?}", line.trim()),
        })?;
        if v > 100 {
            return Err(WorkloadError::ParseTrace {
                path: path.to_path_buf(),
                line: i + 1,
                message: format!("{v} is above 100 %"),
            });
        }
        out.push(f64::from(v) / 100.0);
    }
    if out.len() < SAMPLES_PER_DAY {
        return Err(WorkloadError::ParseTrace {
            path: path.to_path_buf(),
            line: out.len() + 1,
            message: format!("expected {SAMPLES_PER_DAY} samples, found {}", out.len()),
        });
    }
    let last = out[SAMPLES_PER_DAY - 1];
    out.push(last);
    Ok(out)
}

/// Utilization at time `t` (seconds): the sample itself on a sample
/// boundary, otherwise linear interpolation between the two neighbours.
pub fn utilization_at(samples: &[f64], t: f64, interval: f64) -> f64 {
    let last = samples.len().saturating_sub(1);
    if t % interval == 0.0 {
        return samples[((t / interval) as usize).min(last)];
    }
    let i1 = ((t / interval).floor() as usize).min(last);
    let i2 = ((t / interval).ceil() as usize).min(last);
    if i1 == i2 {
        return samples[i1];
    }
    let delta = (samples[i2] - samples[i1]) / ((i2 - i1) as f64 * interval);
    samples[i1] + delta * (t - i1 as f64 * interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolates_between_samples() {
        let s = [0.1, 0.3, 0.3];
        assert_eq!(utilization_at(&s, 0.0, 300.0), 0.1);
        assert!((utilization_at(&s, 150.0, 300.0) - 0.2).abs() < 1e-12);
        assert_eq!(utilization_at(&s, 300.0, 300.0), 0.3);
        assert_eq!(utilization_at(&s, 10_000.0, 300.0), 0.3);
    }

    #[test]
    fn rejects_bad_lines() {
        let dir = std::env::temp_dir().join(format!("vine-trace-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let f = dir.join("vm");
        std::fs::write(&f, "12\nabc\n").expect("write");
        let err = load_file(&f).expect_err("must fail");
        assert!(err.to_string().contains(":2:"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
