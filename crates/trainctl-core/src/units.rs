//! Sizes in words, for the text core renders itself (plan summaries, popup bodies in the shell).
//!
//! Why one function: the CLI, the desktop popups and the UI all show sizes in binary units with
//! two decimals (`3.15 MiB`), so a size reads the same wherever a researcher sees it.

/// `999 B`, `3.15 MiB`, `10.00 GiB` (1024-based), through `humansize`.
pub fn human_bytes(n: u64) -> String {
    match n {
        0..1024 => format!("{n} B"),
        _ => humansize::format_size(n, humansize::BINARY.decimal_zeroes(2)),
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn binary_units_with_two_decimals() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(1024), "1.00 KiB");
        assert_eq!(human_bytes(3_300_000), "3.15 MiB");
        assert_eq!(human_bytes(10 << 30), "10.00 GiB");
    }
}
