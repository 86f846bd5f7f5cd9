//! The report as a list of blocks (headings, paragraphs, tables, chart places) and its chart
//! images: what `render` writes and every drawing (HTML, text, `pdf`) reads.
//!
//! Owns: the blocks' shape. Must not know: wording, how a block is drawn.

/// A piece of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Title(String),
    Heading(String),
    Para(String),
    /// Column headers, rows, and each column's share of the width (they add up to 1).
    Table {
        head: Vec<String>,
        rows: Vec<Vec<String>>,
        widths: Vec<f32>,
    },
    /// An index into the report's charts (`render::Rendered::charts`).
    Chart(usize),
}

/// One chart image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub host: String,
    /// The mail's Content-ID (no angle brackets).
    pub cid: String,
    /// `chart-web01.png`.
    pub filename: String,
    pub png: Vec<u8>,
}
