//! vine-cim
