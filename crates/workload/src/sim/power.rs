//! Host and VM types of the CloudSim PlanetLab experiment and the SPECpower
//! power curves of its two HP ProLiant hosts.

/// Watts at 0 %, 10 %, …, 100 % CPU, linearly interpolated in between.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerCurve {
    /// Eleven points, one per 10 % of CPU.
    pub watts: [f64; 11],
}

impl PowerCurve {
    /// Power draw at `utilization` (0..=1). Values outside are clamped: the
    /// simulator never asks for them, callers that might must check first.
    pub fn watts_at(&self, utilization: f64) -> f64 {
        let u = utilization.clamp(0.0, 1.0);
        let scaled = u * 10.0;
        let lo = scaled.floor() as usize;
        let hi = scaled.ceil() as usize;
        if lo == hi {
            return self.watts[lo];
        }
        let delta = (self.watts[hi] - self.watts[lo]) / 10.0;
        self.watts[lo] + delta * (u - lo as f64 / 10.0) * 100.0
    }
}

/// One physical host model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HostSpec {
    /// Marketing name, for reports.
    pub name: &'static str,
    /// Number of cores (processing elements).
    pub pes: u32,
    /// MIPS of one core.
    pub pe_mips: f64,
    /// Memory in MB.
    pub ram_mb: f64,
    /// Network bandwidth in kbit/s (CloudSim's unit).
    pub bw_kbps: f64,
    /// SPECpower curve.
    pub power: PowerCurve,
}

impl HostSpec {
    /// Total MIPS over all cores.
    pub fn total_mips(&self) -> f64 {
        self.pe_mips * f64::from(self.pes)
    }
}

/// One VM model (all single-core in this experiment).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VmSpec {
    /// MIPS of its one virtual core.
    pub mips: f64,
    /// Memory in MB; also what a live migration copies.
    pub ram_mb: f64,
    /// Network bandwidth in kbit/s.
    pub bw_kbps: f64,
}

/// HP ProLiant ML110 G4 (Xeon 3040): 2 × 1860 MIPS.
pub const HP_ML110_G4: HostSpec = HostSpec {
    name: "HP ProLiant ML110 G4",
    pes: 2,
    pe_mips: 1860.0,
    ram_mb: 4096.0,
    bw_kbps: 1_000_000.0,
    power: PowerCurve {
        watts: [
            86.0, 89.4, 92.6, 96.0, 99.5, 102.0, 106.0, 108.0, 112.0, 114.0, 117.0,
        ],
    },
};

/// HP ProLiant ML110 G5 (Xeon 3075): 2 × 2660 MIPS.
pub const HP_ML110_G5: HostSpec = HostSpec {
    name: "HP ProLiant ML110 G5",
    pes: 2,
    pe_mips: 2660.0,
    ram_mb: 4096.0,
    bw_kbps: 1_000_000.0,
    power: PowerCurve {
        watts: [
            93.7, 97.0, 101.0, 105.0, 110.0, 116.0, 121.0, 125.0, 129.0, 133.0, 135.0,
        ],
    },
};

/// The four VM types; VM `i` gets type `i % 4` unless told otherwise.
pub const VM_TYPES: [VmSpec; 4] = [
    VmSpec {
        mips: 2500.0,
        ram_mb: 870.0,
        bw_kbps: 100_000.0,
    },
    VmSpec {
        mips: 2000.0,
        ram_mb: 1740.0,
        bw_kbps: 100_000.0,
    },
    VmSpec {
        mips: 1000.0,
        ram_mb: 1740.0,
        bw_kbps: 100_000.0,
    },
    VmSpec {
        mips: 500.0,
        ram_mb: 613.0,
        bw_kbps: 100_000.0,
    },
];

/// Seconds a live migration of `ram_mb` takes when half of `bw_kbps` is
/// given to it (the other half stays with the VMs' own traffic).
pub fn migration_seconds(ram_mb: f64, bw_kbps: f64) -> f64 {
    ram_mb / (bw_kbps / (2.0 * 8000.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curve_hits_points_and_interpolates() {
        let c = HP_ML110_G4.power;
        assert_eq!(c.watts_at(0.0), 86.0);
        assert_eq!(c.watts_at(1.0), 117.0);
        assert!((c.watts_at(0.5) - 102.0).abs() < 1e-9);
        assert!((c.watts_at(0.05) - 87.7).abs() < 1e-9);
        assert!((HP_ML110_G5.power.watts_at(0.95) - 134.0).abs() < 1e-9);
    }

    #[test]
    fn migration_of_1740_mb_takes_about_28_s() {
        let s = migration_seconds(1740.0, 1_000_000.0);
        assert!((s - 27.84).abs() < 1e-9);
    }
}
