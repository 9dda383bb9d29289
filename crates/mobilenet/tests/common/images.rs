//! Hostile image files, built byte by byte (std only, so that the library's unit tests can
//! include this file too): the regression inputs of issue 5.

// Each test crate that includes this file uses part of it.
#![allow(dead_code)]

/// A 1×1 palette PNG whose PLTE chunk is 5 bytes long (in the 3..=768 that `png` checks, but
/// not a multiple of 3) with a valid CRC: `png` 0.18.1 panics on it ("range end index 3 out of
/// range for slice of length 2").
pub fn png_with_short_palette() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    // 1×1, bit depth 8, colour type 3 (palette), deflate, no filter, no interlace.
    png_chunk(&mut png, b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 3, 0, 0, 0]);
    png_chunk(&mut png, b"PLTE", &[255, 0, 0, 0, 255]);
    // One scanline: filter 0, palette index 0, as a zlib stream of one stored block.
    let raw = [0u8, 0];
    let mut z = vec![0x78, 0x01, 0x01, 2, 0, !2, !0];
    z.extend(raw);
    z.extend(adler32(&raw).to_be_bytes());
    png_chunk(&mut png, b"IDAT", &z);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

/// A JPEG whose APP0 segment declares a length of 1: `zune-jpeg` reports it with a trailing
/// newline, which `image` used to pass on debug-quoted ("…length:1\n").
pub fn jpeg_with_bad_app0() -> Vec<u8> {
    let mut jpg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01];
    jpg.extend([0u8; 64]);
    jpg
}

/// A PNG whose first chunk is IDAT, not IHDR: `png` names the chunk in its message with
/// `ChunkType`'s debug form (`ChunkType { type: IDAT, critical: true, … }`).
pub fn png_with_idat_first() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png_chunk(&mut png, b"IDAT", &[0x78, 0x01]);
    png_chunk(&mut png, b"IEND", &[]);
    png
}

fn png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend(kind);
    out.extend(data);
    let crc = crc32(&out[start..]);
    out.extend(crc.to_be_bytes());
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    b << 16 | a
}
