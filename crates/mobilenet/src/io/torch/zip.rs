//! The ZIP container of `torch.save` files (PyTorch ≥ 1.6): a bounds-checked reader of the
//! central directory that returns each entry's bytes as a slice of the file. PyTorch stores
//! every entry uncompressed (method 0), so that is the only method read; a compressed or
//! ZIP64 archive is refused by name. Every offset and length is checked against the file before
//! it is used, so a hostile archive can make us allocate nothing beyond the entry list.

/// One stored entry: its name and its bytes within the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub name: String,
    pub data: &'a [u8],
}

/// The 4-byte signature a ZIP file (its first local header) starts with.
pub const MAGIC: &[u8; 4] = b"PK\x03\x04";

const EOCD_SIG: u32 = 0x0605_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Every entry of the archive `bytes`, in central-directory order. Errors say what is wrong
/// in one phrase; the caller adds the file's name.
pub fn entries(bytes: &[u8]) -> Result<Vec<Entry<'_>>, String> {
    let eocd = find_eocd(bytes)?;
    let count = u16_at(bytes, eocd + 10).ok_or("truncated end record")? as usize;
    let cd_size = u32_at(bytes, eocd + 12).ok_or("truncated end record")? as usize;
    let cd_start = u32_at(bytes, eocd + 16).ok_or("truncated end record")? as usize;
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_start == 0xFFFF_FFFF {
        return Err("a ZIP64 archive (over 4 GB or 65535 entries); not supported".into());
    }
    if cd_start.checked_add(cd_size).is_none_or(|end| end > eocd) {
        return Err(format!(
            "the central directory ({cd_size} bytes at {cd_start}) lies outside the {}-byte file",
            bytes.len()
        ));
    }
    // Each central record takes at least 46 bytes: `count` is bounded by the directory's size.
    if count.saturating_mul(CENTRAL_LEN) > cd_size {
        return Err(format!(
            "{count} entries cannot fit in a {cd_size}-byte central directory"
        ));
    }
    let mut out = Vec::with_capacity(count);
    let mut at = cd_start;
    for k in 0..count {
        let bad = |what: &str| format!("central directory entry {k}: {what}");
        if u32_at(bytes, at) != Some(CENTRAL_SIG) {
            return Err(bad("bad signature"));
        }
        let field16 = |o| u16_at(bytes, at + o).ok_or_else(|| bad("truncated"));
        let field32 = |o| u32_at(bytes, at + o).ok_or_else(|| bad("truncated"));
        let method = field16(10)?;
        let csize = field32(20)? as usize;
        let usize_ = field32(24)? as usize;
        let name_len = field16(28)? as usize;
        let extra_len = field16(30)? as usize;
        let comment_len = field16(32)? as usize;
        let local = field32(42)? as usize;
        let name = bytes
            .get(at + CENTRAL_LEN..at + CENTRAL_LEN + name_len)
            .ok_or_else(|| bad("truncated name"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        if method != 0 {
            return Err(format!(
                "entry `{name}` is compressed (method {method}); torch.save stores entries \
                 uncompressed, and only those are read"
            ));
        }
        if csize != usize_ || csize == 0xFFFF_FFFF || local == 0xFFFF_FFFF {
            return Err(format!("entry `{name}`: inconsistent or ZIP64 sizes"));
        }
        let data = local_data(bytes, local, csize).map_err(|e| format!("entry `{name}`: {e}"))?;
        out.push(Entry { name, data });
        at += CENTRAL_LEN + name_len + extra_len + comment_len;
    }
    Ok(out)
}

/// The end-of-central-directory record: the last 22 bytes, or earlier when a comment
/// (at most 65535 bytes) follows it.
fn find_eocd(bytes: &[u8]) -> Result<usize, String> {
    if bytes.len() < EOCD_LEN {
        return Err(format!(
            "{} bytes, too short for a ZIP archive",
            bytes.len()
        ));
    }
    let last = bytes.len() - EOCD_LEN;
    let first = last.saturating_sub(0xFFFF);
    (first..=last)
        .rev()
        .find(|&at| u32_at(bytes, at) == Some(EOCD_SIG))
        .ok_or_else(|| "no ZIP end record (truncated?)".to_string())
}

/// The `len` data bytes of the entry whose local header is at `at`.
fn local_data(bytes: &[u8], at: usize, len: usize) -> Result<&[u8], String> {
    if u32_at(bytes, at) != Some(LOCAL_SIG) {
        return Err(format!("no local header at offset {at}"));
    }
    let name_len = u16_at(bytes, at + 26).ok_or("truncated local header")? as usize;
    let extra_len = u16_at(bytes, at + 28).ok_or("truncated local header")? as usize;
    let start = at + LOCAL_LEN + name_len + extra_len;
    start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or_else(|| {
            format!(
                "{len} bytes at offset {start} run past the end of the {}-byte file",
                bytes.len()
            )
        })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A stored (uncompressed) ZIP archive of `files`, as `torch.save` writes one (without its
    /// 64-byte alignment padding, which readers skip through the extra field anyway).
    pub(crate) fn write_stored(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data) in files {
            let offset = out.len() as u32;
            let crc = 0u32; // not checked by the reader
            let local = |sig: u32, buf: &mut Vec<u8>| {
                buf.extend_from_slice(&sig.to_le_bytes());
            };
            local(LOCAL_SIG, &mut out);
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&crc.to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            local(CENTRAL_SIG, &mut central);
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            central.extend_from_slice(&crc.to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(data.len() as u32).to_le_bytes());
            central.extend_from_slice(&(name.len() as u16).to_le_bytes());
            central.extend_from_slice(&[0; 8]);
            central.extend_from_slice(&[0; 4]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_start = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&EOCD_SIG.to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(files.len() as u16).to_le_bytes());
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_start.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    #[test]
    fn reads_what_it_wrote() {
        let zip = write_stored(&[("a/data.pkl", b"hello"), ("a/data/0", b"\x01\x02\x03\x04")]);
        let e = entries(&zip).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "a/data.pkl");
        assert_eq!(e[0].data, b"hello");
        assert_eq!(e[1].data, b"\x01\x02\x03\x04");
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let zip = write_stored(&[("a/data.pkl", b"hello world"), ("a/x", &[7; 40])]);
        for n in 0..zip.len() {
            assert!(entries(&zip[..n]).is_err(), "prefix of {n} bytes");
        }
    }

    #[test]
    fn every_byte_flip_is_handled() {
        let zip = write_stored(&[("a/data.pkl", b"hello world")]);
        for i in 0..zip.len() {
            for v in [0x00, 0xFF, 0x7F] {
                let mut z = zip.clone();
                z[i] = v;
                let _ = entries(&z); // must not panic
            }
        }
    }
}
