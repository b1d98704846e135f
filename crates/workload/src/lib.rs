//! vine-workload
