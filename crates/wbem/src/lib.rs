//! vine-wbem
