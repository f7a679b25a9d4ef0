//! psmi-bench
