//! vine-cimxml
