//! Names compared as WinFsp compares them on a case-insensitive volume: one UTF-16 unit at a
//! time, each upcased on its own (the kernel's upcase table, `RtlUpcaseUnicodeChar`, which
//! WinFsp's `FspFileNameCompare` in `src/sys/name.c` and `src/dll/fsop.c` rely on). Upcasing
//! never changes a name's length: `ß` stays `ß` (Rust's `to_uppercase` makes it `SS`), and a
//! surrogate is compared as it is. WinFsp refuses a normalized name that differs from the one
//! opened in more than case, so pail must fold exactly this way.

/// The upcased form of one UTF-16 unit: its uppercase when that is a single unit, else itself.
pub fn upcase_unit(unit: u16) -> u16 {
    let Some(c) = char::from_u32(u32::from(unit)) else {
        return unit; // a surrogate half
    };
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) if u.len_utf16() == 1 => u as u32 as u16,
        _ => unit,
    }
}

/// `name` upcased unit by unit, as the key names are compared by.
pub fn upcase(name: &str) -> Vec<u16> {
    name.encode_utf16().map(upcase_unit).collect()
}

/// Whether two names are the same ignoring case, as WinFsp decides it.
pub fn same_ignoring_case(a: &str, b: &str) -> bool {
    a.encode_utf16().map(upcase_unit).eq(b.encode_utf16().map(upcase_unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_and_latin_fold() {
        assert!(same_ignoring_case("Docs", "docs"));
        assert!(same_ignoring_case("RÉSUMÉ.docx", "résumé.DOCX"));
        assert!(same_ignoring_case("Привет", "пРИВЕТ"));
        assert!(!same_ignoring_case("a", "b"));
        assert!(!same_ignoring_case("a", "aa"));
    }

    #[test]
    fn folding_never_changes_length() {
        // `ß`.to_uppercase() is "SS": two names of different lengths are never the same.
        assert!(!same_ignoring_case("straße", "STRASSE"));
        assert!(same_ignoring_case("straße", "STRAßE"));
        assert_eq!(upcase("ß").len(), 1);
        // The ligature `ﬁ` upcases to "FI" in Rust; WinFsp keeps it.
        assert_eq!(upcase_unit(0xFB01), 0xFB01);
    }

    #[test]
    fn surrogates_compare_as_they_are() {
        // 𐐨 (Deseret, U+10428) has an uppercase 𐐀 outside the BMP; unit by unit it is kept.
        assert!(!same_ignoring_case("\u{10428}", "\u{10400}"));
        assert!(same_ignoring_case("\u{10428}x", "\u{10428}X"));
    }
}
