//! Names: S3 key segments ↔ the names a file system shows.
//!
//! Linux shows key segments as they are. Windows forbids `<>:"\|?*`, control characters and a
//! trailing dot or space, so [`NameEncoding::Windows`] maps them to fullwidth look-alikes
//! (`<` ↔ `＜` U+FF1C, control U+0001..U+001F ↔ U+2401..U+241F, trailing `.` ↔ `．` U+FF0E,
//! trailing space ↔ `␠` U+2420) — the convention rclone uses, so files written by other tools keep
//! their names both ways. A key segment that already holds a look-alike is shown with a quoting
//! `‛` (U+201B) in front so the mapping stays reversible, as rclone does.
//!
//! Segments that no platform can show (`""`, `.`, `..`, longer than 255 bytes) are reported by
//! [`is_showable`] so listings can skip them.

/// How key segments become displayed names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameEncoding {
    /// Names are key segments, byte for byte (Linux, macOS).
    #[default]
    Identity,
    /// Windows-forbidden characters become fullwidth look-alikes.
    Windows,
}

const QUOTE: char = '\u{201B}';
const FORBIDDEN: [(char, char); 8] = [
    ('<', '\u{FF1C}'),
    ('>', '\u{FF1E}'),
    (':', '\u{FF1A}'),
    ('"', '\u{FF02}'),
    ('\\', '\u{FF3C}'),
    ('|', '\u{FF5C}'),
    ('?', '\u{FF1F}'),
    ('*', '\u{FF0A}'),
];
const DOT_LOOKALIKE: char = '\u{FF0E}';
const SPACE_LOOKALIKE: char = '\u{2420}';

fn to_lookalike(c: char) -> Option<char> {
    if ('\u{1}'..='\u{1F}').contains(&c) {
        return char::from_u32(c as u32 + 0x2400);
    }
    FORBIDDEN.iter().find(|(a, _)| *a == c).map(|(_, b)| *b)
}

fn from_lookalike(c: char) -> Option<char> {
    if ('\u{2401}'..='\u{241F}').contains(&c) {
        return char::from_u32(c as u32 - 0x2400);
    }
    FORBIDDEN.iter().find(|(_, b)| *b == c).map(|(a, _)| *a)
}

fn is_lookalike(c: char) -> bool {
    from_lookalike(c).is_some() || c == DOT_LOOKALIKE || c == SPACE_LOOKALIKE || c == QUOTE
}

impl NameEncoding {
    /// The displayed name for a key segment.
    pub fn decode(self, segment: &str) -> String {
        match self {
            Self::Identity => segment.to_owned(),
            Self::Windows => {
                let mut out = String::with_capacity(segment.len());
                let n = segment.chars().count();
                for (i, c) in segment.chars().enumerate() {
                    let last = i + 1 == n;
                    if is_lookalike(c) {
                        out.push(QUOTE);
                        out.push(c);
                    } else if let Some(l) = to_lookalike(c) {
                        out.push(l);
                    } else if last && c == '.' {
                        out.push(DOT_LOOKALIKE);
                    } else if last && c == ' ' {
                        out.push(SPACE_LOOKALIKE);
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }

    /// The key segment for a displayed name (inverse of [`decode`](Self::decode)).
    pub fn encode(self, name: &str) -> String {
        match self {
            Self::Identity => name.to_owned(),
            Self::Windows => {
                let mut out = String::with_capacity(name.len());
                let mut chars = name.chars().peekable();
                while let Some(c) = chars.next() {
                    let last = chars.peek().is_none();
                    if c == QUOTE
                        && let Some(&next) = chars.peek()
                        && is_lookalike(next)
                    {
                        out.push(next);
                        chars.next();
                    } else if let Some(a) = from_lookalike(c) {
                        out.push(a);
                    } else if last && c == DOT_LOOKALIKE {
                        out.push('.');
                    } else if last && c == SPACE_LOOKALIKE {
                        out.push(' ');
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }
}

impl NameEncoding {
    /// Whether a name as shown is short enough for the platform: 255 bytes on Linux
    /// (NAME_MAX), 255 UTF-16 units on Windows (the volume's MaxComponentLength), so a name of
    /// 100 Japanese characters (300 bytes) is a valid Windows name.
    pub fn fits(self, name: &str) -> bool {
        match self {
            Self::Identity => name.len() <= MAX_NAME_BYTES,
            Self::Windows => name.encode_utf16().count() <= MAX_NAME_UNITS,
        }
    }
}

/// Whether a key segment can appear as a directory entry with this encoding: not empty, `.` or
/// `..`, no NUL, and a shown name that [`fits`](NameEncoding::fits).
pub fn is_showable(segment: &str, names: NameEncoding) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && !segment.contains('\0')
        && names.fits(&names.decode(segment))
}

/// The longest name a file or folder may have on Linux, in bytes (NAME_MAX): a longer one is
/// `NameTooLong`, and a key segment longer than this is not shown.
pub(crate) const MAX_NAME_BYTES: usize = 255;
/// The longest name on Windows, in UTF-16 units (WinFsp's MaxComponentLength for the volume).
pub const MAX_NAME_UNITS: usize = 255;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_forbidden_characters_round_trip() {
        let w = NameEncoding::Windows;
        for key in [
            "a<b>c",
            "what?",
            "x:y\"z",
            "pipe|star*",
            "back\\slash",
            "ctl\u{1}\u{1f}",
            "dot.",
            "space ",
            "a.b",
        ] {
            let shown = w.decode(key);
            assert!(
                !shown.chars().any(|c| "<>:\"\\|?*".contains(c) || (c as u32) < 0x20),
                "{shown:?}"
            );
            assert!(!shown.ends_with('.') && !shown.ends_with(' '), "{shown:?}");
            assert_eq!(w.encode(&shown), key, "round trip of {key:?}");
        }
    }

    #[test]
    fn windows_mapping_matches_rclone_lookalikes() {
        let w = NameEncoding::Windows;
        assert_eq!(w.decode("a<b"), "a\u{FF1C}b");
        assert_eq!(w.decode("q?"), "q\u{FF1F}");
        assert_eq!(w.decode("end."), "end\u{FF0E}");
        assert_eq!(w.encode("a\u{FF1A}b"), "a:b");
    }

    #[test]
    fn keys_that_already_hold_lookalikes_stay_reversible() {
        let w = NameEncoding::Windows;
        let key = "full\u{FF1C}width";
        let shown = w.decode(key);
        assert_ne!(w.encode(&shown), "full<width");
        assert_eq!(w.encode(&shown), key);
    }

    #[test]
    fn identity_keeps_everything() {
        let i = NameEncoding::Identity;
        assert_eq!(i.decode("a<b> "), "a<b> ");
        assert_eq!(i.encode("a<b> "), "a<b> ");
    }

    #[test]
    fn unshowable_segments() {
        for names in [NameEncoding::Identity, NameEncoding::Windows] {
            assert!(!is_showable("", names));
            assert!(!is_showable(".", names));
            assert!(!is_showable("..", names));
            assert!(!is_showable(&"x".repeat(256), names));
            assert!(is_showable(&"x".repeat(255), names));
            assert!(is_showable("ünïcødé", names));
        }
    }

    #[test]
    fn name_length_counts_bytes_on_linux_and_utf16_units_on_windows() {
        let japanese = "報".repeat(100); // 300 bytes, 100 units
        assert!(!is_showable(&japanese, NameEncoding::Identity));
        assert!(is_showable(&japanese, NameEncoding::Windows));
        let emoji = "😀".repeat(128); // 2 units each: 256
        assert!(!is_showable(&emoji, NameEncoding::Windows));
    }
}
