//! Words of a POSIX `sh` command line built from values (paths from the fleet file, an
//! operator's restore target): the one quoting rule every command the NOC sends uses.
//!
//! Owns: [`sh_quote`], which makes any string one literal word for `sh`, `bash` and `dash`.
//! Must not know: what the commands mean, or how they are sent.

/// `s` as one single-quoted `sh` word: nothing in it is expanded (`$`, backquotes, globs,
/// spaces and newlines stay literal); a `'` is written `'\''`. The empty string is `''`.
/// A NUL cannot be passed to a program at all: callers refuse it before (a path never holds one).
pub fn sh_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &[
        "",
        "/srv",
        "/srv/my files",
        "/srv/it's",
        "/srv/'",
        "''",
        "/srv/a\nb",
        "/srv/$(touch /tmp/anshin-owned)",
        "/srv/`id`",
        "/srv/$HOME",
        "/srv/*",
        "/srv/a;b|c&d>e<f",
        "/srv/\"q\"",
        "/srv/\\n\\",
        "-rf",
        "/srv/\t tab",
        "/srv/ウェブ",
        "/srv/\u{1b}[2J",
    ];

    #[test]
    fn quoted_words_are_literal() {
        assert_eq!(sh_quote("/srv"), "'/srv'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote("a\nb"), "'a\nb'");
    }

    /// The real shell reads each quoted word back as exactly the string, one argument each.
    #[test]
    fn sh_reads_each_word_back() {
        let words: Vec<String> = HOSTILE.iter().map(|s| sh_quote(s)).collect();
        let script = format!("for a in {}; do printf '%s\\0' \"$a\"; done", words.join(" "));
        let out = std::process::Command::new("sh").arg("-c").arg(&script).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let got: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().split_terminator('\0').collect();
        assert_eq!(got, HOSTILE);
        assert!(!std::path::Path::new("/tmp/anshin-owned").exists());
    }
}
