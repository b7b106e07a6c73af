//! The recovery key: 128 random bits and a 32-bit checksum, printed as 32
//! Crockford base32 digits in groups of four.
//!
//! Crockford's alphabet has no I, L, O or U; reading is case-insensitive,
//! takes I and L as 1 and O as 0, and skips hyphens and spaces, so a key
//! copied from paper mostly just works. The checksum (the first 4 bytes of
//! SHA-256 over a label and the key) catches a typo before any KDF runs.

use ring::digest;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

pub const KEY_BYTES: usize = 16;
const CHECK_BYTES: usize = 4;
const TOTAL: usize = KEY_BYTES + CHECK_BYTES;
/// 160 bits, five per digit.
const DIGITS: usize = TOTAL * 8 / 5;
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A recovery key. Zeroized on drop; its text is shown once, at set-up.
pub struct RecoveryKey(Zeroizing<[u8; KEY_BYTES]>);

fn checksum(key: &[u8]) -> [u8; CHECK_BYTES] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"collabzium recovery key v1\0");
    ctx.update(key);
    let d = ctx.finish();
    let mut out = [0u8; CHECK_BYTES];
    out.copy_from_slice(&d.as_ref()[..CHECK_BYTES]);
    out
}

fn digit_value(c: char) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    let c = match c {
        'I' | 'L' => '1',
        'O' => '0',
        c => c,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|i| i as u8)
}

impl RecoveryKey {
    pub fn generate() -> Self {
        RecoveryKey(Zeroizing::new(crate::crypto::random_bytes::<KEY_BYTES>()))
    }

    /// Reads a key as printed (any case, with or without separators).
    /// Errors name the problem, never the digits.
    pub fn parse(text: &str) -> Result<Self> {
        let mut bits: u64 = 0;
        let mut nbits = 0u32;
        let mut bytes = Zeroizing::new([0u8; TOTAL]);
        let mut n = 0usize;
        let mut digits = 0usize;
        for c in text.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let v = digit_value(c).ok_or_else(|| {
                Error::invalid("recovery key", "has a character that is not in the code")
            })?;
            digits += 1;
            if digits > DIGITS {
                break;
            }
            bits = (bits << 5) | u64::from(v);
            nbits += 5;
            if nbits >= 8 {
                nbits -= 8;
                bytes[n] = (bits >> nbits) as u8;
                n += 1;
                bits &= (1 << nbits) - 1;
            }
        }
        if digits != DIGITS || n != TOTAL {
            return Err(Error::invalid(
                "recovery key",
                format!("must have {DIGITS} characters (got {digits})"),
            ));
        }
        let (key, check) = bytes.split_at(KEY_BYTES);
        if checksum(key) != check {
            return Err(Error::invalid(
                "recovery key",
                "the checksum does not match: look for a mistyped character",
            ));
        }
        let mut k = Zeroizing::new([0u8; KEY_BYTES]);
        k.copy_from_slice(key);
        Ok(RecoveryKey(k))
    }

    /// `XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX-XXXX`.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut all = Zeroizing::new([0u8; TOTAL]);
        all[..KEY_BYTES].copy_from_slice(&self.0[..]);
        all[KEY_BYTES..].copy_from_slice(&checksum(&self.0[..]));
        let mut out = Zeroizing::new(String::with_capacity(DIGITS + DIGITS / 4));
        let (mut bits, mut nbits) = (0u64, 0u32);
        let mut written = 0;
        for &b in all.iter() {
            bits = (bits << 8) | u64::from(b);
            nbits += 8;
            while nbits >= 5 {
                nbits -= 5;
                if written > 0 && written % 4 == 0 {
                    out.push('-');
                }
                out.push(ALPHABET[((bits >> nbits) & 31) as usize] as char);
                written += 1;
            }
            bits &= (1 << nbits) - 1;
        }
        out
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }
}

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_forgiving_reading() {
        let k = RecoveryKey::generate();
        let text = k.to_text();
        assert_eq!(text.len(), 39);
        let back = RecoveryKey::parse(&text).unwrap();
        assert_eq!(back.as_bytes(), k.as_bytes());
        let loose = text.to_lowercase().replace('-', " ");
        assert_eq!(RecoveryKey::parse(&loose).unwrap().as_bytes(), k.as_bytes());
        let confusable = text.replace('1', "l").replace('0', "o");
        assert_eq!(
            RecoveryKey::parse(&confusable).unwrap().as_bytes(),
            k.as_bytes()
        );
    }

    #[test]
    fn typos_are_caught() {
        let k = RecoveryKey::generate();
        let text = k.to_text().to_string();
        for i in [0usize, 7, 20, 38] {
            let mut chars: Vec<char> = text.chars().collect();
            chars[i] = if chars[i] == '2' { '3' } else { '2' };
            let typo: String = chars.into_iter().collect();
            assert!(matches!(
                RecoveryKey::parse(&typo),
                Err(Error::InvalidInput { .. })
            ));
        }
        assert!(RecoveryKey::parse(&text[..30]).is_err());
        assert!(RecoveryKey::parse(&format!("{text}A")).is_err());
        assert!(RecoveryKey::parse("").is_err());
        assert!(RecoveryKey::parse("ü!").is_err());
    }
}
