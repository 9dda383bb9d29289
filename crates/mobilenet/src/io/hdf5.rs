//! A small, bounds-checked HDF5 reader: enough of the format to list the datasets of a Keras
//! weights file (`.h5` / `.weights.h5`, as h5py writes them) with their shapes and float data.
//! It knows no model.
//!
//! Read: superblocks 0–3; object headers v1 and v2 (with continuation blocks); groups stored
//! as symbol tables (v1 B-tree + local heap, h5py's default) or as compact link messages;
//! datasets with a simple dataspace, a little-endian IEEE float datatype, and contiguous or
//! compact storage. Refused by name: chunked or filtered (compressed) datasets, dense
//! (fractal-heap) groups, external files. Every address and length is checked against the file
//! before use; the walk is bounded in depth and in the number of objects, and never visits an
//! object twice, so a hostile file cannot make it loop or allocate beyond its own size.

use std::collections::HashSet;

/// A dataset: its path from the root (`layers/conv1/vars/0`), shape and float values.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    pub path: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The 8-byte signature at the start of an HDF5 file.
pub const MAGIC: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

const MAX_DEPTH: usize = 32;
const MAX_OBJECTS: usize = 100_000;

type R<T> = Result<T, String>;

struct File<'a> {
    b: &'a [u8],
    /// Size of offsets and of lengths in bytes (2, 4 or 8).
    so: usize,
    sl: usize,
    visited: HashSet<u64>,
    out: Vec<Dataset>,
}

/// Every float dataset in the file, in a depth-first walk from the root group (names in each
/// group sorted). Errors say what is wrong in one phrase; the caller adds the file's name.
pub fn datasets(bytes: &[u8]) -> R<Vec<Dataset>> {
    if !bytes.starts_with(MAGIC) {
        return Err("not an HDF5 file (no signature at offset 0)".into());
    }
    let version = *bytes.get(8).ok_or("truncated superblock")?;
    let mut f = File {
        b: bytes,
        so: 8,
        sl: 8,
        visited: HashSet::new(),
        out: Vec::new(),
    };
    let root = match version {
        0 | 1 => {
            f.so = f.u8(13)? as usize;
            f.sl = f.u8(14)? as usize;
            f.check_sizes()?;
            // After the fixed fields (24 bytes; v1 has 4 more), four addresses, then the root
            // group's symbol table entry: link name offset, then the object header address.
            let entry = 24 + if version == 1 { 4 } else { 0 } + 4 * f.so;
            f.addr(entry + f.so)?
        }
        2 | 3 => {
            f.so = f.u8(9)? as usize;
            f.sl = f.u8(10)? as usize;
            f.check_sizes()?;
            // flags (1), then base, extension, end-of-file and root object header addresses.
            f.addr(12 + 3 * f.so)?
        }
        v => return Err(format!("superblock version {v}; versions 0 to 3 are read")),
    };
    f.object(root, String::new(), 0)?;
    Ok(f.out)
}

/// What an object header says the object is.
#[derive(Default)]
struct Header {
    symbol_table: Option<(u64, u64)>,
    links: Vec<(String, u64)>,
    dense_links: bool,
    dataspace: Option<Vec<usize>>,
    float_size: Option<usize>,
    other_type: Option<String>,
    layout: Option<Layout>,
    filtered: bool,
}

enum Layout {
    Contiguous { addr: u64, size: u64 },
    Compact { at: usize, size: usize },
    Chunked,
}

impl<'a> File<'a> {
    fn check_sizes(&self) -> R<()> {
        for s in [self.so, self.sl] {
            if ![2, 4, 8].contains(&s) {
                return Err(format!("offset/length size {s}; 2, 4 or 8 are valid"));
            }
        }
        Ok(())
    }

    fn get(&self, at: usize, n: usize) -> R<&'a [u8]> {
        at.checked_add(n)
            .and_then(|end| self.b.get(at..end))
            .ok_or_else(|| {
                format!(
                    "{n} bytes at offset {at} run past the end of the {}-byte file",
                    self.b.len()
                )
            })
    }

    fn u8(&self, at: usize) -> R<u8> {
        Ok(self.get(at, 1)?[0])
    }

    fn u16(&self, at: usize) -> R<u16> {
        Ok(u16::from_le_bytes(self.get(at, 2)?.try_into().expect("2")))
    }

    fn uint(&self, at: usize, n: usize) -> R<u64> {
        let mut v = [0u8; 8];
        v[..n].copy_from_slice(self.get(at, n)?);
        Ok(u64::from_le_bytes(v))
    }

    fn addr(&self, at: usize) -> R<u64> {
        self.uint(at, self.so)
    }

    fn len(&self, at: usize) -> R<u64> {
        self.uint(at, self.sl)
    }

    /// An address as a file position, checked to lie inside the file.
    fn pos(&self, a: u64) -> R<usize> {
        usize::try_from(a)
            .ok()
            .filter(|&p| p < self.b.len())
            .ok_or_else(|| format!("address {a} lies outside the {}-byte file", self.b.len()))
    }

    fn undefined(&self, a: u64) -> bool {
        a == u64::MAX >> (64 - 8 * self.so as u32)
    }

    fn object(&mut self, addr: u64, path: String, depth: usize) -> R<()> {
        if depth > MAX_DEPTH {
            return Err(format!("groups nested deeper than {MAX_DEPTH} at `{path}`"));
        }
        if !self.visited.insert(addr) || self.visited.len() > MAX_OBJECTS {
            return Err(format!(
                "object at {addr} (`{path}`) is reached twice or the file has over {MAX_OBJECTS} objects"
            ));
        }
        let h = self
            .header(addr)
            .map_err(|e| format!("object `{path}`: {e}"))?;
        let mut children: Vec<(String, u64)> = h.links.clone();
        if h.dense_links {
            return Err(format!(
                "group `{path}` stores its links in a fractal heap (dense storage); not read"
            ));
        }
        if let Some((btree, heap)) = h.symbol_table {
            self.group_entries(btree, heap, &mut children, 0)
                .map_err(|e| format!("group `{path}`: {e}"))?;
        }
        // Datasets of other types (an optimizer's integer step counter) are skipped.
        if (h.layout.is_some() || h.dataspace.is_some()) && h.other_type.is_none() {
            let ds = self
                .dataset(&h)
                .map_err(|e| format!("dataset `{path}`: {e}"))?;
            self.out.push(Dataset {
                path: path.clone(),
                shape: ds.0,
                data: ds.1,
            });
        }
        children.sort();
        for (name, child) in children {
            let p = if path.is_empty() {
                name
            } else {
                format!("{path}/{name}")
            };
            self.object(child, p, depth + 1)?;
        }
        Ok(())
    }

    /// The messages of the object header at `addr`, v1 or v2.
    fn header(&self, addr: u64) -> R<Header> {
        let at = self.pos(addr)?;
        let mut h = Header::default();
        if self.get(at, 4)? == b"OHDR" {
            let version = self.u8(at + 4)?;
            if version != 2 {
                return Err(format!("object header version {version}"));
            }
            let flags = self.u8(at + 5)?;
            let mut p = at + 6;
            if flags & 0x20 != 0 {
                p += 16; // times
            }
            if flags & 0x10 != 0 {
                p += 4; // attribute phase change
            }
            let n = 1 << (flags & 3);
            let size = self.uint(p, n)? as usize;
            p += n;
            self.messages_v2(p, size, flags & 4 != 0, &mut h, 0)?;
        } else {
            if self.u8(at)? != 1 {
                return Err(format!("object header version {} at {at}", self.u8(at)?));
            }
            let count = self.u16(at + 2)? as usize;
            let size = u32::from_le_bytes(self.get(at + 8, 4)?.try_into().expect("4")) as usize;
            let mut blocks = vec![(at + 16, size)];
            let mut seen = 0;
            while let Some((start, size)) = blocks.pop() {
                let end = start
                    .checked_add(size)
                    .ok_or("header block size overflows")?;
                self.get(start, size)?;
                let mut p = start;
                while p + 8 <= end && seen < count {
                    let ty = self.u16(p)?;
                    let len = self.u16(p + 2)? as usize;
                    let data = p + 8;
                    self.get(data, len)?;
                    seen += 1;
                    if ty == 0x10 {
                        let a = self.pos(self.addr(data)?)?;
                        let l = self.len(data + self.so)? as usize;
                        if blocks.len() > 64 {
                            return Err("too many header continuation blocks".into());
                        }
                        blocks.push((a, l));
                    } else {
                        self.message(ty, data, len, &mut h)?;
                    }
                    p = data + len.next_multiple_of(8);
                }
            }
        }
        Ok(h)
    }

    fn messages_v2(
        &self,
        start: usize,
        size: usize,
        order: bool,
        h: &mut Header,
        depth: usize,
    ) -> R<()> {
        if depth > 64 {
            return Err("too many header continuation blocks".into());
        }
        let end = start
            .checked_add(size)
            .ok_or("header block size overflows")?;
        self.get(start, size)?;
        let hdr = if order { 6 } else { 4 };
        let mut p = start;
        while p + hdr <= end {
            let ty = self.u8(p)? as u16;
            let len = self.u16(p + 1)? as usize;
            let data = p + hdr;
            if data + len > end {
                return Err(format!("message of {len} bytes overruns its header block"));
            }
            if ty == 0x10 {
                let a = self.pos(self.addr(data)?)?;
                let l = self.len(data + self.so)? as usize;
                if self.get(a, 4)? != b"OCHK" || l < 8 {
                    return Err("continuation block without its OCHK signature".into());
                }
                // Signature first, checksum last.
                self.messages_v2(a + 4, l - 8, order, h, depth + 1)?;
            } else if ty != 0 {
                self.message(ty, data, len, h)?;
            }
            p = data + len;
        }
        Ok(())
    }

    fn message(&self, ty: u16, at: usize, len: usize, h: &mut Header) -> R<()> {
        let m = self.get(at, len)?;
        match ty {
            0x01 => h.dataspace = Some(self.dataspace(at)?),
            0x02 => {
                // Link info: a defined fractal heap address means dense link storage.
                let flags = self.u8(at + 1)?;
                let p = at + 2 + if flags & 1 != 0 { 8 } else { 0 };
                h.dense_links = !self.undefined(self.addr(p)?);
            }
            0x03 => {
                let class = m.first().ok_or("empty datatype")? & 0x0f;
                let size = u32::from_le_bytes(self.get(at + 4, 4)?.try_into().expect("4")) as usize;
                let big_endian = self.u8(at + 1)? & 1 != 0;
                if class == 1 && !big_endian && [2, 4, 8].contains(&size) {
                    h.float_size = Some(size);
                } else {
                    h.other_type = Some(format!(
                        "datatype class {class}, {size} bytes{}",
                        if big_endian { ", big-endian" } else { "" }
                    ));
                }
            }
            0x06 => {
                if let Some(link) = self.link(at)? {
                    h.links.push(link);
                }
            }
            0x08 => h.layout = Some(self.layout(at)?),
            0x0B => h.filtered = true,
            0x11 => h.symbol_table = Some((self.addr(at)?, self.addr(at + self.so)?)),
            _ => {}
        }
        Ok(())
    }

    fn dataspace(&self, at: usize) -> R<Vec<usize>> {
        let version = self.u8(at)?;
        let rank = self.u8(at + 1)? as usize;
        let dims = match version {
            1 => at + 8,
            2 => at + 4,
            v => return Err(format!("dataspace version {v}")),
        };
        if version == 2 && self.u8(at + 3)? == 2 {
            return Ok(vec![0]); // null dataspace
        }
        (0..rank)
            .map(|k| {
                let d = self.len(dims + k * self.sl)?;
                usize::try_from(d).map_err(|_| format!("dimension {d} out of range"))
            })
            .collect()
    }

    fn layout(&self, at: usize) -> R<Layout> {
        let version = self.u8(at)?;
        if version != 3 && version != 4 {
            return Err(format!(
                "data layout message version {version}; 3 and 4 are read"
            ));
        }
        Ok(match self.u8(at + 1)? {
            0 => Layout::Compact {
                at: at + 4,
                size: self.u16(at + 2)? as usize,
            },
            1 => Layout::Contiguous {
                addr: self.addr(at + 2)?,
                size: self.len(at + 2 + self.so)?,
            },
            2 => Layout::Chunked,
            c => return Err(format!("data layout class {c}")),
        })
    }

    /// A link message's (name, target) when it is a hard link.
    fn link(&self, at: usize) -> R<Option<(String, u64)>> {
        if self.u8(at)? != 1 {
            return Err(format!("link message version {}", self.u8(at)?));
        }
        let flags = self.u8(at + 1)?;
        let mut p = at + 2;
        let mut kind = 0;
        if flags & 0x08 != 0 {
            kind = self.u8(p)?;
            p += 1;
        }
        if flags & 0x04 != 0 {
            p += 8;
        }
        if flags & 0x10 != 0 {
            p += 1;
        }
        let n = 1 << (flags & 3);
        let name_len = self.uint(p, n)? as usize;
        p += n;
        let name = String::from_utf8_lossy(self.get(p, name_len)?).into_owned();
        p += name_len;
        (kind == 0)
            .then(|| self.addr(p).map(|a| (name, a)))
            .transpose()
    }

    /// The (name, object header) pairs of a symbol-table group: its v1 B-tree's leaves are
    /// symbol nodes whose entries name objects by offsets into the local heap.
    fn group_entries(
        &self,
        btree: u64,
        heap: u64,
        out: &mut Vec<(String, u64)>,
        depth: usize,
    ) -> R<()> {
        if depth > MAX_DEPTH {
            return Err("B-tree deeper than 32 levels".into());
        }
        let at = self.pos(btree)?;
        if self.get(at, 4)? != b"TREE" || self.u8(at + 4)? != 0 {
            return Err(format!("no group B-tree node at {btree}"));
        }
        let level = self.u8(at + 5)?;
        let used = self.u16(at + 6)? as usize;
        let mut p = at + 8 + 2 * self.so + self.sl; // siblings, then key 0
        for _ in 0..used {
            let child = self.addr(p)?;
            if level > 0 {
                self.group_entries(child, heap, out, depth + 1)?;
            } else {
                self.symbol_node(child, heap, out)?;
            }
            p += self.so + self.sl;
        }
        Ok(())
    }

    fn symbol_node(&self, addr: u64, heap: u64, out: &mut Vec<(String, u64)>) -> R<()> {
        let at = self.pos(addr)?;
        if self.get(at, 4)? != b"SNOD" {
            return Err(format!("no symbol table node at {addr}"));
        }
        let n = self.u16(at + 6)? as usize;
        let entry = 2 * self.so + 24;
        let h = self.pos(heap)?;
        if self.get(h, 4)? != b"HEAP" {
            return Err(format!("no local heap at {heap}"));
        }
        let seg_len = self.len(h + 8)? as usize;
        let seg = self.pos(self.addr(h + 8 + 2 * self.sl)?)?;
        let names = self.get(seg, seg_len)?;
        for k in 0..n {
            let e = at + 8 + k * entry;
            let off = self.addr(e)? as usize;
            let obj = self.addr(e + self.so)?;
            let name = names
                .get(off..)
                .and_then(|s| s.split(|&c| c == 0).next())
                .ok_or_else(|| format!("link name offset {off} outside the local heap"))?;
            out.push((String::from_utf8_lossy(name).into_owned(), obj));
        }
        Ok(())
    }

    fn dataset(&self, h: &Header) -> R<(Vec<usize>, Vec<f32>)> {
        if h.filtered {
            return Err("filtered (compressed) data; save without compression".into());
        }
        let shape = h.dataspace.clone().ok_or("no dataspace")?;
        let size = h.float_size.ok_or("no datatype")?;
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .and_then(|n| n.checked_mul(size))
            .filter(|&n| n <= self.b.len())
            .ok_or_else(|| format!("shape {shape:?} is larger than the file"))?;
        let raw = match h.layout.as_ref().ok_or("no data layout")? {
            Layout::Compact { at, size } => &self.get(*at, *size)?[..n.min(*size)],
            Layout::Contiguous { addr, .. } if self.undefined(*addr) => &[][..],
            Layout::Contiguous { addr, size: s } => {
                if (*s as usize) < n {
                    return Err(format!("{s} bytes stored for {n}"));
                }
                self.get(self.pos(*addr)?, n)?
            }
            Layout::Chunked => {
                return Err("chunked storage; save it unchunked (h5py's default)".into())
            }
        };
        if raw.len() != n {
            return Err(format!("{} bytes stored for {n}", raw.len()));
        }
        let data = raw
            .chunks_exact(size)
            .map(|c| match size {
                4 => f32::from_le_bytes(c.try_into().expect("4")),
                8 => f64::from_le_bytes(c.try_into().expect("8")) as f32,
                _ => super::f16_to_f32(u16::from_le_bytes(c.try_into().expect("2"))),
            })
            .collect();
        Ok((shape, data))
    }
}
