//! The Japanese font for charts and the PDF, found through fontconfig (`fc-match`), or named by
//! `ANSHIN_REPORT_FONT` (a .ttf/.otf/.ttc path, optionally `PATH:INDEX`).
//!
//! Owns: finding the file and proving it has Japanese glyphs (a fallback like DejaVu would draw
//! tofu boxes). Must not know: what is drawn with it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use ab_glyph::Font as _;

/// A font file's bytes and the face index inside it (TrueType collections hold several).
#[derive(Clone)]
pub struct JapaneseFont {
    pub path: PathBuf,
    pub index: u32,
    pub data: Arc<Vec<u8>>,
}

impl std::fmt::Debug for JapaneseFont {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JapaneseFont({}:{})", self.path.display(), self.index)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error(
        "no Japanese font found through fontconfig ({0}): install one, e.g. `apt-get install fonts-noto-cjk`, \
         or set ANSHIN_REPORT_FONT=/path/to/font.ttc"
    )]
    NotFound(String),
    #[error("{path}: {reason}: set ANSHIN_REPORT_FONT to a font with Japanese glyphs (e.g. Noto Sans CJK JP)")]
    Unusable { path: String, reason: String },
}

/// Characters the report needs; a font missing one of them is refused.
const PROBE: &str = "稼働率月次報告障害復旧";

impl JapaneseFont {
    /// Finds the font: `ANSHIN_REPORT_FONT`, else fontconfig's match for Noto Sans CJK JP
    /// (any font fontconfig offers for Japanese will do if it has the glyphs).
    pub fn find() -> Result<JapaneseFont, FontError> {
        if let Ok(spec) = std::env::var("ANSHIN_REPORT_FONT") {
            let (path, index) = match spec.rsplit_once(':') {
                Some((p, i)) if i.parse::<u32>().is_ok() => (p.to_string(), i.parse().unwrap_or(0)),
                _ => (spec.clone(), 0),
            };
            return JapaneseFont::load(PathBuf::from(path), index);
        }
        let mut last = String::from("fc-match found nothing");
        for pattern in ["Noto Sans CJK JP:lang=ja", "sans-serif:lang=ja"] {
            let out = Command::new("fc-match").args(["-f", "%{file}\n%{index}\n", pattern]).output();
            let out = match out {
                Ok(o) if o.status.success() => o,
                Ok(o) => {
                    last = format!("fc-match failed: {}", String::from_utf8_lossy(&o.stderr).trim());
                    continue;
                }
                Err(e) => return Err(FontError::NotFound(format!("cannot run fc-match: {e}"))),
            };
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let (Some(file), index) = (lines.next(), lines.next().and_then(|i| i.trim().parse().ok()).unwrap_or(0))
            else {
                continue;
            };
            match JapaneseFont::load(PathBuf::from(file), index) {
                Ok(f) => return Ok(f),
                Err(e) => last = e.to_string(),
            }
        }
        Err(FontError::NotFound(last))
    }

    /// Loads a font file and checks that it draws Japanese.
    pub fn load(path: PathBuf, index: u32) -> Result<JapaneseFont, FontError> {
        let name = path.display().to_string();
        let data =
            std::fs::read(&path).map_err(|e| FontError::Unusable { path: name.clone(), reason: e.to_string() })?;
        let face = ab_glyph::FontRef::try_from_slice_and_index(&data, index)
            .map_err(|e| FontError::Unusable { path: name.clone(), reason: e.to_string() })?;
        if let Some(c) = PROBE.chars().find(|&c| face.glyph_id(c).0 == 0) {
            return Err(FontError::Unusable { path: name, reason: format!("it has no glyph for {c:?}") });
        }
        Ok(JapaneseFont { path, index, data: Arc::new(data) })
    }
}
