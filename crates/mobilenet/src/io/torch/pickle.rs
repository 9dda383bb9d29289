//! A restricted unpickler for `torch.save`'s `data.pkl`: it rebuilds dicts, lists, tuples,
//! numbers, strings and tensor references, and nothing else. It never executes anything: the
//! only callables it accepts are named in [`Callable`] (the functions `torch.save` uses to
//! rebuild tensors and ordered dicts), which it interprets itself; any other global, and any
//! opcode outside the ones PyTorch writes (protocols 2–5), is refused by name.
//!
//! Bounds: every length is checked against the bytes left; the stack, the memo and the values
//! copied out of the memo are bounded by the pickle's length, so a hostile pickle cannot make
//! it allocate more than a small multiple of its own size.

use std::collections::HashMap;

/// A tensor's storage, as `torch.save`'s persistent id names it: the archive entry
/// `data/<key>`, its element type and its element count.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageRef {
    pub key: String,
    pub dtype: Dtype,
    pub numel: usize,
}

/// A tensor: a strided view of a storage (`torch._utils._rebuild_tensor_v2`).
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRef {
    pub storage: StorageRef,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

/// Element types of PyTorch storages (`torch.FloatStorage`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl Dtype {
    /// From a storage class name (`FloatStorage`, …).
    fn from_storage(name: &str) -> Option<Dtype> {
        Some(match name {
            "FloatStorage" => Dtype::F32,
            "DoubleStorage" => Dtype::F64,
            "HalfStorage" => Dtype::F16,
            "BFloat16Storage" => Dtype::BF16,
            "LongStorage" => Dtype::I64,
            "IntStorage" => Dtype::I32,
            "ShortStorage" => Dtype::I16,
            "CharStorage" => Dtype::I8,
            "ByteStorage" => Dtype::U8,
            "BoolStorage" => Dtype::Bool,
            _ => return None,
        })
    }

    pub fn size(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Dtype::F32 | Dtype::F64 | Dtype::F16 | Dtype::BF16)
    }
}

/// The callables a PyTorch state dict pickle uses; [`Value::Global`] holds one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callable {
    /// `collections.OrderedDict`
    OrderedDict,
    /// `torch._utils._rebuild_tensor_v2` (and `_rebuild_tensor`, without the extra arguments).
    RebuildTensor,
    /// `torch._utils._rebuild_parameter` / `_rebuild_parameter_with_state`: the tensor itself.
    RebuildParameter,
    /// A storage class (`torch.FloatStorage`, …), only meaningful inside a persistent id.
    Storage(Dtype),
}

impl Callable {
    fn from_global(module: &str, name: &str) -> Option<Callable> {
        Some(match (module, name) {
            ("collections", "OrderedDict") => Callable::OrderedDict,
            ("torch._utils", "_rebuild_tensor_v2" | "_rebuild_tensor") => Callable::RebuildTensor,
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                Callable::RebuildParameter
            }
            ("torch", storage) => Callable::Storage(Dtype::from_storage(storage)?),
            _ => return None,
        })
    }
}

/// A rebuilt Python value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    /// A dict (plain or ordered) in insertion order.
    Dict(Vec<(Value, Value)>),
    Global(Callable),
    Storage(StorageRef),
    Tensor(TensorRef),
}

impl Value {
    /// Nodes in this value's tree: what copying it costs.
    fn nodes(&self) -> usize {
        1 + match self {
            Value::Tuple(v) | Value::List(v) => v.iter().map(Value::nodes).sum(),
            Value::Dict(kv) => kv.iter().map(|(k, v)| k.nodes() + v.nodes()).sum(),
            _ => 0,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::None => "None",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::Bytes(_) => "bytes",
            Value::Tuple(_) => "tuple",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
            Value::Global(_) => "global",
            Value::Storage(_) => "storage",
            Value::Tensor(_) => "tensor",
        }
    }
}

/// The name of a pickle opcode, for errors about the ones refused.
fn opcode_name(op: u8) -> &'static str {
    match op {
        b'i' => "INST",
        b'o' => "OBJ",
        0x81 => "NEWOBJ",
        0x92 => "NEWOBJ_EX",
        b'P' => "PERSID",
        0x82..=0x84 => "EXT",
        b'I' => "INT",
        b'L' => "LONG",
        b'F' => "FLOAT",
        b'S' => "STRING",
        b'V' => "UNICODE",
        b'p' => "PUT",
        b'g' => "GET",
        b'd' => "DICT",
        b'l' => "LIST",
        0x8b => "LONG4",
        0x8f => "EMPTY_SET",
        0x90 => "ADDITEMS",
        0x91 => "FROZENSET",
        0x96 => "BYTEARRAY8",
        0x97 => "NEXT_BUFFER",
        0x98 => "READONLY_BUFFER",
        _ => "unknown",
    }
}

/// Unpickles `bytes`. Errors name the opcode or global and the byte offset.
pub fn unpickle(bytes: &[u8]) -> Result<Value, String> {
    Unpickler {
        bytes,
        at: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        copied: 0,
    }
    .run()
}

struct Unpickler<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u32, Value>,
    /// Nodes copied out of the memo so far (bounded by the pickle's length).
    copied: usize,
}

impl<'a> Unpickler<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self
            .at
            .checked_add(n)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or_else(|| {
                format!(
                    "truncated: {n} bytes wanted at offset {} of {}",
                    self.at,
                    self.bytes.len()
                )
            })?;
        self.at += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn len_prefixed(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).map_err(|_| "length out of range".to_string())?;
        self.take(n)
    }

    fn string(&mut self, n: u64) -> Result<Value, String> {
        let b = self.len_prefixed(n)?;
        String::from_utf8(b.to_vec())
            .map(Value::Str)
            .map_err(|_| "a string that is not UTF-8".to_string())
    }

    fn line(&mut self) -> Result<&'a str, String> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .take(256)
            .position(|&b| b == b'\n')
            .ok_or("GLOBAL without a newline-terminated name")?;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| "GLOBAL name is not UTF-8")?;
        self.at += n + 1;
        Ok(s)
    }

    fn pop(&mut self) -> Result<Value, String> {
        self.stack
            .pop()
            .ok_or_else(|| "stack underflow".to_string())
    }

    fn top(&mut self) -> Result<&mut Value, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "stack underflow".to_string())
    }

    /// Everything above the last MARK, and the MARK removed.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let m = self.marks.pop().ok_or("no MARK to pop to")?;
        if m > self.stack.len() {
            return Err("MARK above the stack".into());
        }
        Ok(self.stack.split_off(m))
    }

    fn push(&mut self, v: Value) -> Result<(), String> {
        // Every value pushed took at least one byte of the pickle.
        if self.stack.len() > self.bytes.len() {
            return Err("stack grows beyond the pickle's length".into());
        }
        self.stack.push(v);
        Ok(())
    }

    fn memo_put(&mut self, key: u32) -> Result<(), String> {
        let v = self.stack.last().ok_or("PUT on an empty stack")?.clone();
        self.memo.insert(key, v);
        Ok(())
    }

    fn memo_get(&mut self, key: u32) -> Result<(), String> {
        let v = self
            .memo
            .get(&key)
            .ok_or_else(|| format!("GET of memo entry {key}, which was never PUT"))?;
        self.copied += v.nodes();
        if self.copied > 4 * self.bytes.len() + 4096 {
            return Err("memo references expand to more values than the pickle holds".into());
        }
        let v = v.clone();
        self.push(v)
    }

    fn set_items(&mut self, items: Vec<Value>) -> Result<(), String> {
        if !items.len().is_multiple_of(2) {
            return Err("SETITEMS with an odd number of values".into());
        }
        let Value::Dict(d) = self.top()? else {
            return Err("SETITEM(S) on something that is not a dict".into());
        };
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            match d.iter_mut().find(|(old, _)| *old == k) {
                Some(slot) => slot.1 = v,
                None => d.push((k, v)),
            }
        }
        Ok(())
    }

    fn append(&mut self, items: Vec<Value>) -> Result<(), String> {
        match self.top()? {
            Value::List(l) => {
                l.extend(items);
                Ok(())
            }
            other => Err(format!("APPEND(S) on a {}", other.kind())),
        }
    }

    fn run(mut self) -> Result<Value, String> {
        loop {
            let pos = self.at;
            let op = self.u8()?;
            let at = |e: String| format!("at byte {pos}: {e}");
            self.step(op).map_err(at)?;
            if op == b'.' {
                return self.pop().map_err(|e| format!("at STOP: {e}"));
            }
        }
    }

    fn step(&mut self, op: u8) -> Result<(), String> {
        match op {
            0x80 => {
                let p = self.u8()?;
                if p > 5 {
                    return Err(format!("pickle protocol {p}; at most 5 is read"));
                }
            }
            0x95 => {
                self.u64()?; // FRAME: a length hint
            }
            b'.' => {}
            b'(' => self.marks.push(self.stack.len()),
            b'}' => self.push(Value::Dict(Vec::new()))?,
            b']' => self.push(Value::List(Vec::new()))?,
            b')' => self.push(Value::Tuple(Vec::new()))?,
            b'N' => self.push(Value::None)?,
            0x88 => self.push(Value::Bool(true))?,
            0x89 => self.push(Value::Bool(false))?,
            b'K' => {
                let v = self.u8()?;
                self.push(Value::Int(v.into()))?
            }
            b'M' => {
                let v = self.u16()?;
                self.push(Value::Int(v.into()))?
            }
            b'J' => {
                let v = self.u32()? as i32;
                self.push(Value::Int(v.into()))?
            }
            0x8a => {
                let n = self.u8()? as usize;
                let b = self.take(n)?;
                if n > 8 {
                    return Err(format!("a {n}-byte LONG1; at most 8 bytes are read"));
                }
                let mut v: i64 = 0;
                for (k, &byte) in b.iter().enumerate() {
                    v |= (byte as i64) << (8 * k);
                }
                if n > 0 && n < 8 && b[n - 1] & 0x80 != 0 {
                    v -= 1i64 << (8 * n); // sign-extend
                }
                self.push(Value::Int(v))?
            }
            b'G' => {
                let v = f64::from_be_bytes(self.take(8)?.try_into().expect("8"));
                self.push(Value::Float(v))?
            }
            b'X' => {
                let n = self.u32()?;
                let v = self.string(n.into())?;
                self.push(v)?
            }
            0x8c => {
                let n = self.u8()?;
                let v = self.string(n.into())?;
                self.push(v)?
            }
            0x8d => {
                let n = self.u64()?;
                let v = self.string(n)?;
                self.push(v)?
            }
            b'C' | b'U' => {
                let n = self.u8()?;
                let b = self.len_prefixed(n.into())?.to_vec();
                self.push(Value::Bytes(b))?
            }
            b'B' | b'T' => {
                let n = self.u32()?;
                let b = self.len_prefixed(n.into())?.to_vec();
                self.push(Value::Bytes(b))?
            }
            0x8e => {
                let n = self.u64()?;
                let b = self.len_prefixed(n)?.to_vec();
                self.push(Value::Bytes(b))?
            }
            b'q' => {
                let k = self.u8()?;
                self.memo_put(k.into())?
            }
            b'r' => {
                let k = self.u32()?;
                self.memo_put(k)?
            }
            0x94 => {
                let k = self.memo.len() as u32;
                self.memo_put(k)?
            }
            b'h' => {
                let k = self.u8()?;
                self.memo_get(k.into())?
            }
            b'j' => {
                let k = self.u32()?;
                self.memo_get(k)?
            }
            b't' => {
                let items = self.pop_mark()?;
                self.push(Value::Tuple(items))?
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err("stack underflow".into());
                }
                let items = self.stack.split_off(self.stack.len() - n);
                self.push(Value::Tuple(items))?
            }
            b'0' => {
                self.pop()?;
            }
            b'2' => {
                let v = self.top()?.clone();
                self.copied += v.nodes();
                if self.copied > 4 * self.bytes.len() + 4096 {
                    return Err("DUP expands to more values than the pickle holds".into());
                }
                self.push(v)?
            }
            b's' => {
                let v = self.pop()?;
                let k = self.pop()?;
                self.set_items(vec![k, v])?
            }
            b'u' => {
                let items = self.pop_mark()?;
                self.set_items(items)?
            }
            b'a' => {
                let v = self.pop()?;
                self.append(vec![v])?
            }
            b'e' => {
                let items = self.pop_mark()?;
                self.append(items)?
            }
            b'c' => {
                let module = self.line()?.to_string();
                let name = self.line()?;
                let g = global(&module, name)?;
                self.push(g)?
            }
            0x93 => {
                let name = self.pop()?;
                let module = self.pop()?;
                let (Value::Str(module), Value::Str(name)) = (module, name) else {
                    return Err("STACK_GLOBAL with names that are not strings".into());
                };
                let g = global(&module, &name)?;
                self.push(g)?
            }
            b'R' => {
                let args = self.pop()?;
                let f = self.pop()?;
                let v = reduce(f, args)?;
                self.push(v)?
            }
            b'Q' => {
                let pid = self.pop()?;
                let v = persistent_load(pid)?;
                self.push(v)?
            }
            b'b' => {
                // BUILD: set an object's state. Only an ordered dict's `_metadata` (module
                // versions) comes this way in a state dict; it is dropped.
                let _state = self.pop()?;
                match self.top()? {
                    Value::Dict(_) | Value::Tensor(_) => {}
                    other => return Err(format!("BUILD on a {}", other.kind())),
                }
            }
            op => {
                return Err(format!(
                    "opcode {} (0x{op:02x}) is not accepted: only the opcodes that rebuild \
                     tensors, dicts, lists and tuples are read",
                    opcode_name(op)
                ))
            }
        }
        Ok(())
    }
}

fn global(module: &str, name: &str) -> Result<Value, String> {
    Callable::from_global(module, name)
        .map(Value::Global)
        .ok_or_else(|| {
            format!(
                "global `{module}.{name}` is refused: only the functions that rebuild tensors \
                 and ordered dicts are accepted (a pickle that names others may run code)"
            )
        })
}

fn int(v: &Value, what: &str) -> Result<usize, String> {
    match v {
        Value::Int(i) => usize::try_from(*i).map_err(|_| format!("{what} {i} is negative")),
        other => Err(format!("{what} is a {}, not an int", other.kind())),
    }
}

fn ints(v: &Value, what: &str) -> Result<Vec<usize>, String> {
    match v {
        Value::Tuple(t) | Value::List(t) => t.iter().map(|x| int(x, what)).collect(),
        other => Err(format!("{what} is a {}, not a tuple", other.kind())),
    }
}

/// Applies one of the accepted callables to its argument tuple.
fn reduce(f: Value, args: Value) -> Result<Value, String> {
    let Value::Tuple(args) = args else {
        return Err(format!(
            "REDUCE with {} arguments, not a tuple",
            args.kind()
        ));
    };
    match f {
        Value::Global(Callable::OrderedDict) => Ok(Value::Dict(Vec::new())),
        Value::Global(Callable::RebuildTensor) => {
            let [storage, offset, shape, stride, ..] = args.as_slice() else {
                return Err(format!(
                    "_rebuild_tensor_v2 with {} arguments, expected at least 4",
                    args.len()
                ));
            };
            let Value::Storage(storage) = storage else {
                return Err(format!(
                    "_rebuild_tensor_v2 of a {}, not a storage",
                    storage.kind()
                ));
            };
            let shape = ints(shape, "tensor size")?;
            let stride = ints(stride, "tensor stride")?;
            if shape.len() != stride.len() {
                return Err(format!(
                    "tensor size {shape:?} and stride {stride:?} differ in length"
                ));
            }
            Ok(Value::Tensor(TensorRef {
                storage: storage.clone(),
                offset: int(offset, "storage offset")?,
                shape,
                stride,
            }))
        }
        Value::Global(Callable::RebuildParameter) => match args.into_iter().next() {
            Some(t @ Value::Tensor(_)) => Ok(t),
            _ => Err("_rebuild_parameter without a tensor".into()),
        },
        Value::Global(Callable::Storage(_)) => {
            Err("a storage class called directly (legacy format); not supported".into())
        }
        other => Err(format!(
            "REDUCE of a {}, which is not callable",
            other.kind()
        )),
    }
}

/// `torch.save`'s persistent id: `('storage', <storage class>, key, location, numel)`.
fn persistent_load(pid: Value) -> Result<Value, String> {
    let Value::Tuple(t) = pid else {
        return Err(format!("persistent id is a {}, not a tuple", pid.kind()));
    };
    match t.as_slice() {
        [Value::Str(tag), Value::Global(Callable::Storage(dtype)), Value::Str(key), _, numel]
            if tag == "storage" =>
        {
            Ok(Value::Storage(StorageRef {
                key: key.clone(),
                dtype: *dtype,
                numel: int(numel, "storage size")?,
            }))
        }
        _ => Err("persistent id is not ('storage', <storage class>, key, location, size)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilds_a_dict_with_a_tensor() {
        // {'w': _rebuild_tensor_v2(pid('storage', FloatStorage, '0', 'cpu', 6), 0, (2, 3), (3, 1), False, OrderedDict())}
        let mut p = vec![0x80, 2, b'}', b'q', 0, b'(', b'X', 1, 0, 0, 0, b'w'];
        p.extend_from_slice(b"ctorch._utils\n_rebuild_tensor_v2\nq\x01((");
        p.extend_from_slice(
            b"X\x07\0\0\0storagectorch\nFloatStorage\nX\x01\0\0\0\x30X\x03\0\0\0cpuK\x06tQ",
        );
        p.extend_from_slice(b"K\0K\x02K\x03\x86K\x03K\x01\x86\x89ccollections\nOrderedDict\n)RtR");
        p.extend_from_slice(b"u.");
        let v = unpickle(&p).unwrap();
        let Value::Dict(d) = v else { panic!("{v:?}") };
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, Value::Str("w".into()));
        let Value::Tensor(t) = &d[0].1 else { panic!() };
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.stride, vec![3, 1]);
        assert_eq!(t.storage.key, "0");
        assert_eq!(t.storage.numel, 6);
        assert_eq!(t.storage.dtype, Dtype::F32);
        for n in 0..p.len() {
            assert!(unpickle(&p[..n]).is_err(), "prefix {n}");
        }
    }

    #[test]
    fn refuses_code_execution_by_name() {
        let p = b"\x80\x02cos\nsystem\nX\x02\0\0\0ls\x85R.";
        let e = unpickle(p).unwrap_err();
        assert!(e.contains("global `os.system` is refused"), "{e}");
        let p = b"\x80\x02(X\x01\0\0\0a\x8c\x01bo.";
        let e = unpickle(p).unwrap_err();
        assert!(e.contains("opcode OBJ"), "{e}");
        let p = b"\x80\x02\x8c\x08builtins\x8c\x04eval\x93.";
        let e = unpickle(p).unwrap_err();
        assert!(e.contains("`builtins.eval` is refused"), "{e}");
    }

    #[test]
    fn memo_expansion_is_bounded() {
        // l = []; then repeatedly l2 = [l, l] via GET, doubling the copied size each round.
        let mut p = vec![0x80, 2, b']', b'q', 0];
        for _ in 0..40 {
            p.extend_from_slice(b"(h\x00h\x00lq\x00");
        }
        p.push(b'.');
        // LIST (`l`) is refused by name before any blow-up; build the doubling with tuples.
        let mut p2 = vec![0x80, 2, b']', b'q', 0];
        for _ in 0..40 {
            p2.extend_from_slice(b"h\x00h\x00\x86q\x00");
        }
        p2.push(b'.');
        assert!(unpickle(&p).is_err());
        let e = unpickle(&p2).unwrap_err();
        assert!(e.contains("expand"), "{e}");
    }

    #[test]
    fn long1_sign_extends() {
        assert_eq!(unpickle(b"\x8a\x01\xff.").unwrap(), Value::Int(-1));
        assert_eq!(unpickle(b"\x8a\x02\x00\x01.").unwrap(), Value::Int(256));
        assert_eq!(unpickle(b"\x8a\x00.").unwrap(), Value::Int(0));
    }
}
