//! Sizes as people write them in the drives file and on the command line.

/// Parses `4096`, `512KiB`, `128MiB`, `4GiB` (also `K`, `M`, `G`, `KB`… as binary units).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size; write e.g. 512MiB or 4GiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("{s:?} has an unknown unit; use KiB, MiB, GiB or TiB")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s:?} is too large"))
}

/// `bytes` as people read them: `512 B`, `12.5 MiB` (binary units, one decimal).
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `part` of `whole` in whole percent, rounded down (100 only when all of it; nothing of
/// nothing is all done).
pub fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        return 100;
    }
    (u128::from(part.min(whole)) * 100 / u128::from(whole)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_is_whole_percent_and_full_only_when_done() {
        assert_eq!(percent(0, 10), 0);
        assert_eq!(percent(9_999, 10_000), 99);
        assert_eq!(percent(10, 10), 100);
        assert_eq!(percent(0, 0), 100, "nothing pending is done");
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
    }

    #[test]
    fn sizes_read_like_people_write_them() {
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(12 << 20 | 512 << 10), "12.5 MiB");
        assert_eq!(
            parse_size(&format_size(4 << 30).replace(".0 ", "").replace(' ', "")),
            Ok(4 << 30)
        );
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("4XB").is_err());
    }
}
