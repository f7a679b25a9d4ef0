//! psmi-std
