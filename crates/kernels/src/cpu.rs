//! What the CPU is beyond its instruction sets: cache sizes, read once from Linux's sysfs,
//! for the choices that depend on them (how many images one inference pass holds).

use std::sync::OnceLock;

/// Per-core data caches and the shared last level, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caches {
    pub l1d: usize,
    pub l2: usize,
    pub l3: usize,
    /// Whether the sizes are [`Caches::FALLBACK`] because the system did not report them.
    pub assumed: bool,
}

impl Caches {
    /// What is assumed where sysfs says nothing: a small desktop part's caches.
    pub const FALLBACK: Caches = Caches {
        l1d: 32 << 10,
        l2: 1 << 20,
        l3: 8 << 20,
        assumed: true,
    };
}

/// This machine's caches (cpu0's view), read once.
pub fn caches() -> Caches {
    static CACHES: OnceLock<Caches> = OnceLock::new();
    *CACHES.get_or_init(|| read_sysfs().unwrap_or(Caches::FALLBACK))
}

fn read_sysfs() -> Option<Caches> {
    let dir = "/sys/devices/system/cpu/cpu0/cache";
    let mut c = Caches {
        l1d: 0,
        l2: 0,
        l3: 0,
        assumed: false,
    };
    for i in 0..8 {
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/index{i}/{f}")).ok();
        let (Some(level), Some(kind), Some(size)) = (read("level"), read("type"), read("size"))
        else {
            continue;
        };
        let Some(bytes) = parse_size(size.trim()) else {
            continue;
        };
        match (level.trim(), kind.trim()) {
            ("1", "Data") => c.l1d = bytes,
            ("2", "Unified" | "Data") => c.l2 = bytes,
            ("3", "Unified") => c.l3 = bytes,
            _ => {}
        }
    }
    (c.l1d > 0 && c.l2 > 0).then(|| {
        // No L3 (some small parts): the L2 is the last level.
        if c.l3 == 0 {
            c.l3 = c.l2;
        }
        c
    })
}

/// sysfs sizes: `32K`, `1024K`, `32M`, or plain bytes.
fn parse_size(s: &str) -> Option<usize> {
    let (num, unit) = match s.char_indices().find(|(_, ch)| !ch.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, ""),
    };
    let n: usize = num.parse().ok()?;
    match unit {
        "" => Some(n),
        "K" => n.checked_mul(1 << 10),
        "M" => n.checked_mul(1 << 20),
        "G" => n.checked_mul(1 << 30),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_as_sysfs_writes_them() {
        assert_eq!(parse_size("32K"), Some(32 << 10));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("12Q"), None);
        assert_eq!(parse_size(""), None);
        let c = caches();
        assert!(c.l1d > 0 && c.l2 >= c.l1d && c.l3 >= c.l2 / 4, "{c:?}");
    }
}
