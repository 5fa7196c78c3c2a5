//! HTML escaping: every string that comes from data (hotkeys, GPU names, class names, verdict
//! details) is hostile input, since a miner chooses what it claims.

use std::fmt::{self, Write as _};

/// Escapes `s` for HTML text and for quoted attribute values, in HTML and in inline SVG: `&`,
/// `<`, `>`, `"` and `'` become character references; everything else is kept as is.
///
/// ```
/// assert_eq!(
///     validator_report::escape(r#"<img src=x onerror="alert('1')">"#),
///     "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;",
/// );
/// ```
pub fn escape(s: &str) -> String {
    Esc(s).to_string()
}

/// Writes a string escaped (see [`escape`]) without building it first.
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_script_tags() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
    }

    #[test]
    fn escapes_quotes_and_ampersands() {
        assert_eq!(
            escape(r#"a"b'c&d"#),
            "a&quot;b&#39;c&amp;d",
            "both quote kinds, so a value can never leave its attribute"
        );
        // An already-escaped string is escaped again (no double-decoding on display).
        assert_eq!(escape("&lt;"), "&amp;lt;");
    }

    #[test]
    fn keeps_plain_and_non_ascii_text() {
        let s = "NVIDIA H100 80GB HBM3 — 5Grwva…utQY µs";
        assert_eq!(escape(s), s);
        assert_eq!(escape(""), "");
    }

    #[test]
    fn escaped_output_has_no_markup_characters() {
        let hostile = "\"><img src=x onerror=alert(1)><svg onload='x'>&";
        let out = escape(hostile);
        assert!(!out.contains(['<', '>', '"', '\'']), "{out}");
        // Every `&` starts one of the five references.
        for (i, _) in out.match_indices('&') {
            let rest = out.get(i..).unwrap_or_default();
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                    .iter()
                    .any(|r| rest.starts_with(r)),
                "{rest}"
            );
        }
    }

    #[test]
    fn display_wrapper_matches_escape() {
        let s = "<b title='x'>\"&\"</b>";
        assert_eq!(format!("{}", Esc(s)), escape(s));
    }
}
