//! Bounds-checked flatbuffer reading: tables through their vtables, vectors, strings. Knows no
//! schema; every out-of-range offset is an [`Error::Corrupt`].

use std::path::Path;

use crate::error::{Error, Result};

/// The whole file and its name for errors.
#[derive(Clone, Copy)]
pub struct Buf<'a> {
    pub bytes: &'a [u8],
    pub path: &'a Path,
}

impl<'a> Buf<'a> {
    pub fn err(&self, what: impl std::fmt::Display) -> Error {
        Error::corrupt(self.path, format!("corrupt TFLite flatbuffer: {what}"))
    }

    /// `len` bytes at `pos`.
    pub fn slice(&self, pos: usize, len: usize) -> Result<&'a [u8]> {
        pos.checked_add(len)
            .and_then(|end| self.bytes.get(pos..end))
            .ok_or_else(|| {
                self.err(format!(
                    "{len} bytes at offset {pos} run past the end of the {}-byte file",
                    self.bytes.len()
                ))
            })
    }

    fn array<const N: usize>(&self, pos: usize) -> Result<[u8; N]> {
        let s = self.slice(pos, N)?;
        let mut out = [0; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub fn u16(&self, pos: usize) -> Result<u16> {
        self.array(pos).map(u16::from_le_bytes)
    }

    pub fn u32(&self, pos: usize) -> Result<u32> {
        self.array(pos).map(u32::from_le_bytes)
    }

    pub fn i32(&self, pos: usize) -> Result<i32> {
        self.array(pos).map(i32::from_le_bytes)
    }

    /// Follows the unsigned offset stored at `pos`.
    pub fn follow(&self, pos: usize) -> Result<usize> {
        let off = self.u32(pos)? as usize;
        pos.checked_add(off)
            .filter(|&p| p < self.bytes.len())
            .ok_or_else(|| {
                self.err(format!(
                    "offset {off} at byte {pos} points outside the {}-byte file (truncated?)",
                    self.bytes.len()
                ))
            })
    }

    /// The table whose start is at `pos`.
    pub fn table(self, pos: usize) -> Result<Table<'a>> {
        let soff = self.i32(pos)? as i64;
        let vtable = usize::try_from(pos as i64 - soff)
            .map_err(|_| self.err(format!("vtable of the table at {pos} is before the file")))?;
        let vtable_len = self.u16(vtable)? as usize;
        if vtable_len < 4 || vtable_len & 1 == 1 {
            return Err(self.err(format!("vtable at {vtable} has length {vtable_len}")));
        }
        self.slice(vtable, vtable_len)?;
        Ok(Table {
            buf: self,
            pos,
            vtable,
            vtable_len,
        })
    }

    /// The root table (its offset is the file's first 4 bytes).
    pub fn root(self) -> Result<Table<'a>> {
        let pos = self.follow(0)?;
        self.table(pos)
    }
}

/// A table: field `id`'s offset is in its vtable at `4 + 2·id`, 0 meaning absent.
#[derive(Clone, Copy)]
pub struct Table<'a> {
    pub buf: Buf<'a>,
    pos: usize,
    vtable: usize,
    vtable_len: usize,
}

impl<'a> Table<'a> {
    /// Where field `id` is stored, or `None` if absent (its default applies).
    pub fn field(&self, id: usize) -> Result<Option<usize>> {
        let slot = 4 + 2 * id;
        if slot + 2 > self.vtable_len {
            return Ok(None);
        }
        match self.buf.u16(self.vtable + slot)? {
            0 => Ok(None),
            off => Ok(Some(self.pos + off as usize)),
        }
    }

    fn scalar<const N: usize>(&self, id: usize) -> Result<Option<[u8; N]>> {
        self.field(id)?.map(|p| self.buf.array(p)).transpose()
    }

    pub fn u8(&self, id: usize, default: u8) -> Result<u8> {
        Ok(self.scalar::<1>(id)?.map_or(default, |b| b[0]))
    }

    pub fn i8(&self, id: usize, default: i8) -> Result<i8> {
        Ok(self.scalar::<1>(id)?.map_or(default, |b| b[0] as i8))
    }

    pub fn i32(&self, id: usize, default: i32) -> Result<i32> {
        Ok(self.scalar(id)?.map_or(default, i32::from_le_bytes))
    }

    pub fn u32(&self, id: usize, default: u32) -> Result<u32> {
        Ok(self.scalar(id)?.map_or(default, u32::from_le_bytes))
    }

    pub fn u64(&self, id: usize, default: u64) -> Result<u64> {
        Ok(self.scalar(id)?.map_or(default, u64::from_le_bytes))
    }

    /// A sub-table field.
    pub fn table(&self, id: usize) -> Result<Option<Table<'a>>> {
        match self.field(id)? {
            None => Ok(None),
            Some(p) => self.buf.table(self.buf.follow(p)?).map(Some),
        }
    }

    /// A vector field: (position of element 0, length), elements of `elem` bytes, all in
    /// the file.
    pub fn vector(&self, id: usize, elem: usize) -> Result<Option<(usize, usize)>> {
        let Some(p) = self.field(id)? else {
            return Ok(None);
        };
        let start = self.buf.follow(p)?;
        let len = self.buf.u32(start)? as usize;
        let bytes = len
            .checked_mul(elem)
            .ok_or_else(|| self.buf.err(format!("vector of {len} elements at {start}")))?;
        self.buf.slice(start + 4, bytes)?;
        Ok(Some((start + 4, len)))
    }

    /// A `[ubyte]` or `string` field's bytes (empty if absent).
    pub fn bytes(&self, id: usize) -> Result<&'a [u8]> {
        match self.vector(id, 1)? {
            None => Ok(&[]),
            Some((p, n)) => self.buf.slice(p, n),
        }
    }

    /// A `string` field, lossily decoded.
    pub fn string(&self, id: usize) -> Result<String> {
        Ok(String::from_utf8_lossy(self.bytes(id)?).into_owned())
    }

    /// A vector of 4-byte scalars, decoded by `f`.
    fn vec4<T>(&self, id: usize, f: fn([u8; 4]) -> T) -> Result<Vec<T>> {
        let Some((p, n)) = self.vector(id, 4)? else {
            return Ok(Vec::new());
        };
        (0..n).map(|i| self.buf.array(p + 4 * i).map(f)).collect()
    }

    pub fn i32s(&self, id: usize) -> Result<Vec<i32>> {
        self.vec4(id, i32::from_le_bytes)
    }

    pub fn f32s(&self, id: usize) -> Result<Vec<f32>> {
        self.vec4(id, f32::from_le_bytes)
    }

    pub fn i64s(&self, id: usize) -> Result<Vec<i64>> {
        let Some((p, n)) = self.vector(id, 8)? else {
            return Ok(Vec::new());
        };
        (0..n)
            .map(|i| self.buf.array(p + 8 * i).map(i64::from_le_bytes))
            .collect()
    }

    /// A vector of tables.
    pub fn tables(&self, id: usize) -> Result<Vec<Table<'a>>> {
        let Some((p, n)) = self.vector(id, 4)? else {
            return Ok(Vec::new());
        };
        (0..n)
            .map(|i| self.buf.table(self.buf.follow(p + 4 * i)?))
            .collect()
    }
}
