//! The WordPress detection reply (what `script::wordpress_detect_command` prints) read per site.
//!
//! Owns: [`parse_wordpress_reply`], the readers of wp-cli's JSON (`wp core check-update
//! --format=json`: `[{"version","update_type","package_url"}]`, nothing when up to date;
//! `wp plugin|theme list --format=json`: `[{"name","version","update_version"}]`) and a small JSON reader for them (wp-cli's output only: no dependency).
//! Must not know: SSH, plans (the engine asks for CMS detection only where it is entitled).

use std::cmp::Ordering;

use crate::updates::reply::{compare_versions, Sections};
pub use crate::updates::script::{WordpressChanges, WordpressSite};
use crate::updates::{detail, DetectError, PendingUpdate, Severity, Source, UpdateClass};

/// What a WordPress detection found on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WordpressScan {
    /// The server has no `wp` (wp-cli must be installed on the customer's server): nothing was
    /// checked, and nothing failed.
    WpCliMissing,
    /// One entry per site, in the order asked.
    Sites(Vec<SiteScan>),
}

/// One site's answer: its pending updates (core, plugins, themes; sorted), or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteScan {
    pub path: String,
    pub result: Result<Vec<PendingUpdate>, DetectError>,
}

/// Reads the reply for `sites` (the same list, in the same order, the command was written for).
/// Standard error follows standard output in `reply`, as for `parse_os_reply`. A site whose
/// sections are missing or failed gets its own error; the others are still read.
pub fn parse_wordpress_reply(sites: &[WordpressSite], reply: &str) -> Result<WordpressScan, DetectError> {
    let sections = Sections::read(reply)?;
    if sections.notes.contains(&"wp-cli missing") {
        return Ok(WordpressScan::WpCliMissing);
    }
    let scans = sites
        .iter()
        .enumerate()
        .map(|(i, site)| SiteScan { path: site.path.clone(), result: site_updates(&sections, i, &site.path) })
        .collect();
    Ok(WordpressScan::Sites(scans))
}

fn site_updates(sections: &Sections<'_>, i: usize, path: &str) -> Result<Vec<PendingUpdate>, DetectError> {
    let lines = |name: &str| sections.need(&format!("{name} {i}"))?.accepted(&[0]);
    let row = |source, package: &str, installed: &str, candidate: &str| PendingUpdate {
        source,
        site: path.to_string(),
        package: package.to_string(),
        installed: installed.to_string(),
        candidate: candidate.to_string(),
        advisory: String::new(),
        severity: Severity::None,
        class: UpdateClass::Unclassified,
    };
    let installed = lines("core-version")?
        .iter()
        .map(|l| l.trim())
        .rfind(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or("")
        .to_string();
    let mut rows = Vec::new();
    // Up to date, wp-cli prints nothing with --format=json (older releases: "Success: WordPress
    // is at the latest version.").
    let core = lines("core")?;
    if core.iter().any(|l| l.trim_start().starts_with('[')) {
        let offers = json_rows(core, "core check-update")?;
        let newest = offers
            .iter()
            .filter_map(|o| field(o, "version"))
            .max_by(|a, b| compare_versions(a, b).then(Ordering::Equal));
        if let Some(version) = newest {
            rows.push(row(Source::WordpressCore, "wordpress", &installed, &version));
        }
    }
    for (name, source) in [("plugins", Source::WordpressPlugin), ("themes", Source::WordpressTheme)] {
        for item in json_rows(lines(name)?, name)? {
            let (Some(slug), Some(candidate)) = (field(&item, "name"), field(&item, "update_version")) else {
                return Err(DetectError::Unknown { detail: format!("{name}: a row without name or update_version") });
            };
            rows.push(row(source, &slug, &field(&item, "version").unwrap_or_default(), &candidate));
        }
    }
    rows.sort();
    Ok(rows)
}

/// The first line of `lines` that is a JSON array of objects (wp-cli prints it on one line;
/// PHP notices may come before it).
fn json_rows(lines: &[&str], what: &str) -> Result<Vec<Vec<(String, Json)>>, DetectError> {
    for line in lines.iter().map(|l| l.trim()).filter(|l| l.starts_with('[')) {
        if let Some(Json::Array(items)) = Json::parse(line) {
            return Ok(items
                .into_iter()
                .filter_map(|i| match i {
                    Json::Object(fields) => Some(fields),
                    _ => None,
                })
                .collect());
        }
    }
    Err(DetectError::Unknown { detail: detail(&format!("{what}: no JSON list in {:?}", lines.join(" / "))) })
}

/// A string or number field as text.
fn field(fields: &[(String, Json)], key: &str) -> Option<String> {
    fields.iter().find(|(k, _)| k == key).and_then(|(_, v)| match v {
        Json::String(s) | Json::Number(s) => Some(s.clone()),
        _ => None,
    })
}

// ---- a small JSON reader -----------------------------------------------------------------------

/// A JSON value; numbers are kept as their text.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Nesting deeper than this is refused (wp-cli's lists are two deep).
const MAX_DEPTH: usize = 16;

impl Json {
    /// The whole of `text` as one value; `None` when it is not JSON.
    fn parse(text: &str) -> Option<Json> {
        let mut r = Reader { s: text.as_bytes(), at: 0 };
        let v = r.value(0)?;
        r.space();
        (r.at == r.s.len()).then_some(v)
    }
}

struct Reader<'a> {
    s: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn space(&mut self) {
        while self.s.get(self.at).is_some_and(|c| c.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.space();
        let hit = self.s.get(self.at) == Some(&c);
        self.at += usize::from(hit);
        hit
    }

    fn word(&mut self, w: &str, v: Json) -> Option<Json> {
        self.s[self.at..].starts_with(w.as_bytes()).then(|| {
            self.at += w.len();
            v
        })
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.space();
        match *self.s.get(self.at)? {
            b'n' => self.word("null", Json::Null),
            b't' => self.word("true", Json::Bool(true)),
            b'f' => self.word("false", Json::Bool(false)),
            b'"' => self.string().map(Json::String),
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Some(Json::Array(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b']') {
                        return Some(Json::Array(items));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                if self.eat(b'}') {
                    return Some(Json::Object(fields));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return None;
                    }
                    fields.push((key, self.value(depth + 1)?));
                    if self.eat(b'}') {
                        return Some(Json::Object(fields));
                    }
                    if !self.eat(b',') {
                        return None;
                    }
                }
            }
            c if c == b'-' || c.is_ascii_digit() => {
                let start = self.at;
                while self.s.get(self.at).is_some_and(|c| c.is_ascii_digit() || b"+-.eE".contains(c)) {
                    self.at += 1;
                }
                std::str::from_utf8(&self.s[start..self.at]).ok().map(|n| Json::Number(n.to_string()))
            }
            _ => None,
        }
    }

    /// A string at the cursor (which is on its opening quote), escapes decoded.
    fn string(&mut self) -> Option<String> {
        if self.s.get(self.at) != Some(&b'"') {
            return None;
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.at)?;
            self.at += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.at)?;
                    self.at += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c if c < 0x20 => return None,
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = std::str::from_utf8(self.s.get(self.at..self.at + 4)?).ok()?;
        self.at += 4;
        u32::from_str_radix(h, 16).ok()
    }

    /// After `\u`: one code point, a surrogate pair joined; a lone surrogate becomes U+FFFD.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.s[self.at..].starts_with(b"\\u") {
            self.at += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                return char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00));
            }
        }
        Some(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reader_reads_what_php_writes() {
        let v = Json::parse(r#"[{"a":"x\/y","b":null,"c":1.5e3,"d":[true,false],"e":"\u00e9\ud83d\ude00","f":{}}]"#)
            .unwrap();
        let Json::Array(items) = v else { panic!() };
        let Json::Object(f) = &items[0] else { panic!() };
        assert_eq!(field(f, "a").as_deref(), Some("x/y"));
        assert_eq!(field(f, "b"), None);
        assert_eq!(field(f, "c").as_deref(), Some("1.5e3"));
        assert_eq!(field(f, "e").as_deref(), Some("é😀"));
        assert_eq!(Json::parse("[]"), Some(Json::Array(vec![])));
        for bad in ["", "[", "[1,]", "{\"a\"}", "[\"\u{1}\"]", "[1] x", "\"\\x\"", "[\"\\u12\"]", "nul"] {
            assert_eq!(Json::parse(bad), None, "{bad:?}");
        }
        let deep = "[".repeat(100) + &"]".repeat(100);
        assert_eq!(Json::parse(&deep), None);
    }
}
