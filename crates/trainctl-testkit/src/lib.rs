//! Test kit (see crate description).
