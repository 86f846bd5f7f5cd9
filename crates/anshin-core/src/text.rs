//! Untrusted text made visible: the one rule for showing text that came from a server, an
//! operator or a file, whatever shows it (a terminal, a log line, a probe's detail, a one-line
//! field of a customer mail, a fleet diagnostic).
//!
//! Owns: which characters are never shown as they are ([`is_hidden`]) and how they are shown
//! instead (`\r`, `\n`, `\t`, `\u{1b}`, `\u{2028}`…: Rust's escape form, readable by an operator
//! and one line long).
//! Must not know: where the text goes or where it came from. Storing is not its business: text
//! is stored as given and escaped where it is shown.

use std::borrow::Cow;

/// Characters that can change what a reader sees beyond themselves: every Unicode control (C0
/// with CR, LF, TAB and ESC, which starts terminal escape sequences; DEL; C1 with NEL and CSI),
/// the Unicode line and paragraph separators (a line break to many mail readers), and the
/// bidirectional embeddings, overrides and isolates (they reorder the text around them).
pub fn is_hidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Appends `c`, escaped when it is hidden.
fn push_visible(out: &mut String, c: char) {
    if is_hidden(c) {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// `s` with every hidden character escaped (`a\u{1b}[2Jb`); borrowed when there is none.
/// The result is one line and holds no control character.
pub fn visible(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        push_visible(&mut out, c);
    }
    Cow::Owned(out)
}

/// Like [`visible`], cut once the result reaches `max_bytes` (then ending with `…`): for text
/// whose length the sender chose (banners, replies).
pub fn visible_capped(s: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= max_bytes {
            out.push('…');
            break;
        }
        push_visible(&mut out, c);
    }
    out
}

/// Like [`visible_capped`] for the output of a command kept in a log: line feeds stay line
/// feeds (the output keeps its lines), every other hidden character is escaped.
pub fn visible_lines_capped(s: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if out.len() >= max_bytes {
            out.push('…');
            break;
        }
        if c == '\n' {
            out.push(c);
        } else {
            push_visible(&mut out, c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_stay_lines_and_the_rest_is_escaped() {
        assert_eq!(visible_lines_capped("a\r\nb\x1b[2J\n", 100), "a\\r\nb\\u{1b}[2J\n");
        assert_eq!(visible_lines_capped("abcdef", 3), "abc…");
    }

    #[test]
    fn hidden_characters_are_escaped_and_the_rest_kept() {
        let table = [
            ("220 ok", "220 ok"),
            ("a\x1b[31mred\x07", "a\\u{1b}[31mred\\u{7}"),
            ("x\r\ny\tz", "x\\r\\ny\\tz"),
            ("株式会社\u{2028}偽の行", "株式会社\\u{2028}偽の行"),
            ("\u{85}\u{9b}2J", "\\u{85}\\u{9b}2J"),
            ("abc\u{202E}fdp.exe", "abc\\u{202e}fdp.exe"),
            ("\u{7f}", "\\u{7f}"),
            ("サンプル株式会社 様", "サンプル株式会社 様"),
        ];
        for (raw, want) in table {
            assert_eq!(visible(raw), want, "{raw:?}");
            assert!(!visible(raw).chars().any(is_hidden), "{raw:?}");
        }
        assert!(matches!(visible("plain"), Cow::Borrowed("plain")));
    }

    #[test]
    fn capped_output_stays_short() {
        assert_eq!(visible_capped("abc", 10), "abc");
        let long = "\u{1b}".repeat(1000);
        let out = visible_capped(&long, 160);
        assert!(out.len() <= 160 + "\\u{1b}".len() + '…'.len_utf8(), "{}", out.len());
        assert!(out.ends_with('…'));
    }
}
