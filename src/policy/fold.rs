//! The folding rules of SPEC §16: how other parsers may read a name or a path character
//! that the gateway reads exactly.
//!
//! Go's `encoding/json`, Jackson and .NET bind JSON members case-insensitively (Go with
//! Unicode simple folding, so `ſ` is an `s` and the Kelvin sign a `k`); Unicode-normalising
//! routers apply NFKC; many stacks drop invisible characters. A member name whose
//! [`skeleton`] equals a governed name's, without being that name exactly, has a second
//! reading and is refused.

use unicode_normalization::UnicodeNormalization;

/// The name as the most lenient binder could read it: NFKC, lowercase, and without
/// control, format, default-ignorable and white-space characters or the word separators
/// `_` and `-` (relaxed binders such as Spring's map `ThirdPartySecurityMode` onto
/// `third_party_security_mode`).
pub fn skeleton(name: &str) -> String {
    let mut folded = String::with_capacity(name.len());
    skeleton_into(name, &mut folded);
    folded
}

/// [`skeleton`], appended to `out` (a caller folding many names reuses one buffer).
pub fn skeleton_into(name: &str, out: &mut String) {
    if name.is_ascii() {
        // the common case: no normalisation tables, and no ASCII character is ignorable
        out.reserve(name.len());
        for byte in name.bytes() {
            if !(byte.is_ascii_control() || byte.is_ascii_whitespace() || matches!(byte, b'_' | b'-')) {
                out.push(char::from(byte.to_ascii_lowercase()));
            }
        }
        return;
    }
    let keep = |c: &char| !(c.is_control() || c.is_whitespace() || is_ignorable(*c) || matches!(c, '_' | '-'));
    out.extend(name.nfkc().filter(keep).map(fold_to_ascii).flat_map(char::to_lowercase));
}

/// The non-ASCII letters whose simple case mapping is ASCII, as Java's `equalsIgnoreCase`,
/// Python's `re.I` and Go's `EqualFold` (for `ſ` and `K`) match them: `ſ`→s, `K`→k, `İ`→i,
/// `ı`→i.
pub fn fold_to_ascii(c: char) -> char {
    match c {
        '\u{017F}' => 's',
        '\u{212A}' => 'k',
        '\u{0130}' | '\u{0131}' => 'i',
        other => other,
    }
}

/// Whether a path character reads as a separator or a dot to a Unicode-normalising
/// server: `／` (U+FF0F) is `/` under NFKC, `․` (U+2024) is `.`, `＼` (U+FF3C) is `\`.
pub fn folds_to_path_syntax(c: char) -> bool {
    !c.is_ascii() && std::iter::once(c).nfkc().any(|folded| matches!(folded, '/' | '\\' | '.'))
}

/// Default-ignorable code points (Unicode `DerivedCoreProperties.txt`,
/// `Default_Ignorable_Code_Point`) and the remaining format (`Cf`) characters: they are
/// invisible, and parsers disagree on whether they are part of a name.
pub fn is_ignorable(c: char) -> bool {
    !c.is_ascii()
        && matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFFB | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF
        // format characters outside the default-ignorable set
        | 0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2 | 0x110BD | 0x110CD
        | 0x13430..=0x1343F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skeletons_fold_every_second_reading() {
        for (name, expected) in [
            ("third_party_security_mode", "thirdpartysecuritymode"),
            ("THIRD_PARTY_SECURITY_MODE", "thirdpartysecuritymode"),
            ("ThirdPartySecurityMode", "thirdpartysecuritymode"),
            ("third-party-security-mode", "thirdpartysecuritymode"),
            ("\u{017F}so", "sso"),                      // long s: Go's simple folding
            ("\u{212A}ey", "key"),                      // Kelvin sign
            ("s\u{200B}so", "sso"),                     // zero-width space
            ("s\u{00AD}so", "sso"),                     // soft hyphen
            ("\u{FF53}\u{FF53}\u{FF4F}", "sso"),        // full-width letters
            ("is_first_party\u{0000}", "isfirstparty"), // NUL
            ("is_first_party\u{FEFF}", "isfirstparty"), // BOM inside a name
            ("sso\u{E0041}", "sso"),                    // tag character
        ] {
            assert_eq!(skeleton(name), expected, "{name:?}");
        }
        assert_ne!(skeleton("name"), skeleton("sso"));
    }

    #[test]
    fn the_ascii_shortcut_folds_as_the_general_rule() {
        let general = |name: &str| -> String {
            let keep = |c: &char| !(c.is_control() || c.is_whitespace() || is_ignorable(*c) || matches!(c, '_' | '-'));
            name.nfkc().filter(keep).map(fold_to_ascii).flat_map(char::to_lowercase).collect()
        };
        for byte in 0u8..=0x7F {
            let name = format!("a{}B", char::from(byte));
            assert_eq!(skeleton(&name), general(&name), "{byte:#x}");
        }
    }

    #[test]
    fn path_syntax_folds() {
        for c in ['\u{FF0F}', '\u{2024}', '\u{FF0E}', '\u{FF3C}', '\u{2025}', '\u{FE52}'] {
            assert!(folds_to_path_syntax(c), "{c:?} U+{:04X}", c as u32);
        }
        for c in ['a', '/', 'é', '\u{2215}'] {
            assert!(!folds_to_path_syntax(c), "{c:?}");
        }
    }
}
