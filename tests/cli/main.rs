//! CLI end-to-end suite
