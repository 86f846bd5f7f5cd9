//! Counting the files of a tar stream as it goes by (a backup's `files` and its live progress),
//! from the archive's own headers: no listing is asked of the server and nothing is buffered
//! beyond one 512-byte header.
//!
//! Owns: reading ustar/GNU headers (the size in octal or base-256, GNU's long-name, long-link,
//! dump-directory and pax extension records that precede or stand beside members).
//! Must not know: where the bytes come from or go (the engine's streams).

/// The tar block: headers and data are whole blocks.
const BLOCK: usize = 512;

/// Counts the regular files of a tar stream fed in pieces of any size.
#[derive(Debug, Clone, Default)]
pub struct TarCount {
    /// Bytes of member data (rounded up to whole blocks) still to pass before the next header.
    skip: u64,
    /// The header read so far.
    header: Vec<u8>,
    files: u64,
    /// A header that was not one (no valid checksum): counting stopped, the count is a floor.
    lost: bool,
}

impl TarCount {
    pub fn new() -> TarCount {
        TarCount { header: Vec::with_capacity(BLOCK), ..TarCount::default() }
    }

    /// The regular files seen so far (hard links and GNU's directory records are not counted).
    pub fn files(&self) -> u64 {
        self.files
    }

    /// Whether a block that should have been a header was not (the stream is not a tar archive
    /// this reader knows): `files` then stays what it was.
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Takes the next bytes of the stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() && !self.lost {
            if self.skip > 0 {
                let n = (self.skip.min(data.len() as u64)) as usize;
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            let n = (BLOCK - self.header.len()).min(data.len());
            self.header.extend_from_slice(&data[..n]);
            data = &data[n..];
            if self.header.len() == BLOCK {
                let header = std::mem::take(&mut self.header);
                self.read_header(&header);
                self.header = header;
                self.header.clear();
            }
        }
    }

    fn read_header(&mut self, h: &[u8]) {
        // The end of the archive (two zero blocks) and padding after it.
        if h.iter().all(|&b| b == 0) {
            return;
        }
        if !checksum_ok(h) {
            self.lost = true;
            return;
        }
        let Some(size) = size_of(&h[124..136]) else {
            self.lost = true;
            return;
        };
        let typeflag = h[156];
        // Regular files (old and new style, contiguous, sparse). Every other type — directories,
        // links, devices, GNU's `D` dump directories, `L`/`K` long names, pax `x`/`g` — carries
        // no file of its own; their data (if any) is skipped.
        if matches!(typeflag, b'0' | 0 | b'7' | b'S') {
            self.files += 1;
        }
        self.skip = size.div_ceil(BLOCK as u64) * BLOCK as u64;
    }
}

/// A header's checksum: the sum of its bytes with the checksum field taken as spaces (unsigned,
/// or signed as some old tars wrote it).
fn checksum_ok(h: &[u8]) -> bool {
    let Some(stored) = octal(&h[148..156]) else { return false };
    let field = 148..156;
    let unsigned: u64 =
        h.iter().enumerate().map(|(i, &b)| if field.contains(&i) { u64::from(b' ') } else { u64::from(b) }).sum();
    let signed: i64 =
        h.iter().enumerate().map(|(i, &b)| if field.contains(&i) { i64::from(b' ') } else { i64::from(b as i8) }).sum();
    stored == unsigned || i64::try_from(stored).is_ok_and(|s| s == signed)
}

/// The size field: octal digits (spaces and NULs around them), or GNU's base-256 for large ones.
fn size_of(field: &[u8]) -> Option<u64> {
    if field[0] & 0x80 != 0 {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    octal(field)
}

fn octal(field: &[u8]) -> Option<u64> {
    let digits: Vec<u8> =
        field.iter().copied().skip_while(|b| *b == b' ').take_while(|b| (b'0'..=b'7').contains(b)).collect();
    if digits.is_empty() {
        // An empty field is zero (some writers leave it blank for directories).
        return field.iter().all(|b| *b == 0 || *b == b' ').then_some(0);
    }
    digits.iter().try_fold(0u64, |v, d| v.checked_mul(8)?.checked_add(u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One ustar header (as GNU tar writes them), its checksum computed.
    fn header(name: &str, typeflag: u8, size: u64) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[156] = typeflag;
        h[257..263].copy_from_slice(b"ustar ");
        h[263..265].copy_from_slice(b" \0");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        h
    }

    fn member(out: &mut Vec<u8>, name: &str, typeflag: u8, data: &[u8]) {
        out.extend(header(name, typeflag, data.len() as u64));
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(BLOCK), 0);
    }

    /// An incremental archive's shape: GNU dump directories with data, a long name, files of
    /// sizes around the block size, a symlink, a hard link; then the two zero blocks.
    fn archive() -> Vec<u8> {
        let mut a = Vec::new();
        member(&mut a, "./", b'D', b"Ysrv\0\0");
        member(&mut a, "./srv/", b'D', b"Ya\0Yb\0Yc\0\0");
        member(&mut a, "./srv/a", b'0', &[7u8; 511]);
        member(&mut a, "./srv/b", b'0', &[8u8; 512]);
        member(&mut a, "././@LongLink", b'L', "./srv/".to_string().repeat(30).as_bytes());
        member(&mut a, "./srv/c", b'0', &[9u8; 513]);
        member(&mut a, "./srv/empty", b'0', b"");
        member(&mut a, "./srv/link", b'2', b"");
        member(&mut a, "./srv/hard", b'1', b"");
        member(&mut a, "./PaxHeaders/x", b'x', b"30 mtime=1764633600.123456789\n");
        member(&mut a, "./srv/old", 0, &[1u8; 1024]);
        a.extend([0u8; 2 * BLOCK]);
        a
    }

    #[test]
    fn counts_regular_files_whatever_the_pieces() {
        let a = archive();
        for piece in [1, 7, 511, 512, 513, 4096, a.len()] {
            let mut c = TarCount::new();
            for chunk in a.chunks(piece) {
                c.feed(chunk);
            }
            assert_eq!((c.files(), c.lost()), (5, false), "pieces of {piece}");
        }
    }

    #[test]
    fn base_256_sizes_and_a_stream_that_is_not_tar() {
        let mut a = Vec::new();
        let mut h = header("./big", b'0', 0);
        // 8 GiB + 512 in GNU's base-256: the reader must skip that much before the next header.
        let size: u64 = (8 << 30) + 512;
        h[124] = 0x80;
        h[125..136].fill(0);
        h[128..136].copy_from_slice(&size.to_be_bytes());
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
        h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        a.extend(h);
        let mut c = TarCount::new();
        c.feed(&a);
        assert_eq!(c.files(), 1);
        assert_eq!(c.skip, size);
        let mut c = TarCount::new();
        c.feed(&[b'x'; 2048]);
        assert!(c.lost() && c.files() == 0, "{c:?}");
    }
}
