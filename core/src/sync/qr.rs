//! The invitation as a QR code, both ways: the module matrix the apps and the
//! workstation draw, and reading a camera frame back into the invitation
//! text. Both sit in the core so no app needs its own QR library.
//!
//! Only invitations pass through here: the text is checked with the same
//! parser the join uses, so a QR code of anything else is refused before it
//! reaches a screen. The text holds the pairing secret: it is never put in an
//! error or a log line.

use serde::Serialize;

use crate::error::{Error, Result};
use collabzium_protocol::code::{PairingCode, QR_PREFIX};

/// Light modules a reader needs around the code (ISO/IEC 18004 asks for 4).
pub const QUIET_ZONE: u32 = 4;

/// Largest frame `decode_qr_luma` reads: 16 megapixels (a 4096×4096 frame or
/// a 12 MP photo). Bigger frames are refused instead of allocating for them.
pub const MAX_FRAME_PIXELS: u64 = 16 * 1024 * 1024;

/// The modules of a QR code, row by row from the top left, `true` for dark.
/// Draw `quiet_zone` light modules on every side around the `size`×`size`
/// grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QrMatrix {
    pub size: u32,
    pub modules: Vec<bool>,
    pub quiet_zone: u32,
}

impl QrMatrix {
    /// Whether the module at column `x`, row `y` is dark (outside: light).
    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        x < self.size
            && y < self.size
            && self
                .modules
                .get(y as usize * self.size as usize + x as usize)
                .copied()
                .unwrap_or(false)
    }
}

/// Checks that `text` is an invitation: a QR payload (`collabzium://pair?…`)
/// or a typed code, by the join's own parsers.
fn check_invitation(text: &str) -> Result<()> {
    let text = text.trim();
    if text.starts_with(QR_PREFIX) {
        PairingCode::parse_qr(text)?;
    } else {
        PairingCode::parse(text)?;
    }
    Ok(())
}

/// The QR matrix of an invitation: `code` is the payload of
/// `InvitationView::qr` (or a bare code). Anything else is refused.
pub fn invite_qr(code: &str) -> Result<QrMatrix> {
    check_invitation(code)?;
    // Medium error correction: survives a scuffed or glared phone screen
    // while keeping the modules large for the payload's length.
    let qr =
        qrcode::QrCode::with_error_correction_level(code.trim().as_bytes(), qrcode::EcLevel::M)
            .map_err(|_| Error::invalid("code", "too long for a QR code"))?;
    let size = qr.width();
    let modules = qr
        .to_colors()
        .into_iter()
        .map(|c| c == qrcode::Color::Dark)
        .collect();
    Ok(QrMatrix {
        size: u32::try_from(size).map_err(|_| Error::Internal("qr size".into()))?,
        modules,
        quiet_zone: QUIET_ZONE,
    })
}

/// Reads the invitation in a grayscale camera frame: `luma` is `width` ×
/// `height` bytes, row by row, 0 black to 255 white (the Y plane of NV21 or
/// of a 420 YpCbCr buffer, with no row padding).
///
/// Errors: `InvalidInput { field: "image" }` for a frame whose size does not
/// match or is over `MAX_FRAME_PIXELS`; `NotFound { what: "QR code" }` when
/// no QR code can be read; `Pairing` when the QR code is not an invitation.
pub fn decode_qr_luma(width: u32, height: u32, luma: &[u8]) -> Result<String> {
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        return Err(Error::invalid("image", "width and height must be above 0"));
    }
    if pixels > MAX_FRAME_PIXELS {
        return Err(Error::invalid(
            "image",
            format!("{width}x{height} is over the {MAX_FRAME_PIXELS}-pixel limit"),
        ));
    }
    if luma.len() as u64 != pixels {
        return Err(Error::invalid(
            "image",
            format!(
                "{} bytes do not match {width}x{height} (one byte per pixel)",
                luma.len()
            ),
        ));
    }
    let (w, h) = (width as usize, height as usize);
    // rqrr has had index panics on odd frames; a camera frame is untrusted
    // input, so a panic in it becomes "no code found" instead of a crash.
    let found = std::panic::catch_unwind(|| {
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
            luma.get(y * w + x).copied().unwrap_or(255)
        });
        let mut texts = Vec::new();
        for grid in img.detect_grids() {
            if let Ok((_, text)) = grid.decode() {
                texts.push(text);
            }
        }
        texts
    })
    .unwrap_or_default();
    let mut last_err = None;
    for text in found {
        match check_invitation(&text) {
            Ok(()) => return Ok(text.trim().to_string()),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| Error::NotFound {
        what: "QR code in the image".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAYLOAD: &str =
        "collabzium://pair?v=1&relay=https%3A%2F%2Frelay.example.org&code=1234-ABC-DEF-GH";

    fn valid_payload() -> String {
        let code = PairingCode::new("4821", &PairingCode::generate_secret()).unwrap();
        code.qr_payload("https://relay.example.org")
            .unwrap()
            .to_string()
    }

    /// Renders a matrix as a frame: `scale` pixels per module, the quiet zone
    /// around, dark 20 and light 235 (a camera never sees pure black/white).
    fn render(m: &QrMatrix, scale: u32) -> (u32, Vec<u8>) {
        let side = (m.size + 2 * m.quiet_zone) * scale;
        let mut px = vec![235u8; (side * side) as usize];
        for y in 0..side {
            for x in 0..side {
                let (mx, my) = (x / scale, y / scale);
                if mx >= m.quiet_zone
                    && my >= m.quiet_zone
                    && m.is_dark(mx - m.quiet_zone, my - m.quiet_zone)
                {
                    px[(y * side + x) as usize] = 20;
                }
            }
        }
        (side, px)
    }

    #[test]
    fn an_invitation_round_trips_through_a_frame() {
        let payload = valid_payload();
        let m = invite_qr(&payload).unwrap();
        assert_eq!(m.modules.len(), (m.size * m.size) as usize);
        assert_eq!(m.quiet_zone, 4);
        assert!(m.is_dark(0, 0), "finder pattern corner is dark");
        let (side, px) = render(&m, 3);
        assert_eq!(decode_qr_luma(side, side, &px).unwrap(), payload);
    }

    #[test]
    fn a_frame_larger_than_the_code_with_an_offset_still_reads() {
        let payload = valid_payload();
        let m = invite_qr(&payload).unwrap();
        let (side, code_px) = render(&m, 4);
        let (w, h) = (side + 97, side + 41);
        let mut px = vec![200u8; (w * h) as usize];
        for y in 0..side {
            for x in 0..side {
                px[((y + 30) * w + x + 60) as usize] = code_px[(y * side + x) as usize];
            }
        }
        assert_eq!(decode_qr_luma(w, h, &px).unwrap(), payload);
    }

    #[test]
    fn only_invitations_are_encoded() {
        assert!(invite_qr("https://example.org").is_err());
        assert!(invite_qr(PAYLOAD).is_err(), "bad check character");
        let code = PairingCode::new("4821", &PairingCode::generate_secret()).unwrap();
        assert!(invite_qr(&code.display()).is_ok());
    }

    #[test]
    fn a_qr_code_of_something_else_is_refused_as_pairing() {
        let qr = qrcode::QrCode::new(b"https://example.org/not-an-invite").unwrap();
        let m = QrMatrix {
            size: qr.width() as u32,
            modules: qr
                .to_colors()
                .into_iter()
                .map(|c| c == qrcode::Color::Dark)
                .collect(),
            quiet_zone: 4,
        };
        let (side, px) = render(&m, 3);
        let err = decode_qr_luma(side, side, &px).unwrap_err();
        assert!(matches!(err, Error::Pairing(_)), "{err:?}");
    }

    #[test]
    fn wrong_dimensions_are_typed() {
        for (w, h, len) in [
            (0, 10, 0),
            (10, 0, 0),
            (10, 10, 99),
            (10, 10, 101),
            (5000, 5000, 0),
        ] {
            let err = decode_qr_luma(w, h, &vec![0; len]).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidInput { field, .. } if field == "image"),
                "{w}x{h}/{len}: {err:?}"
            );
        }
        // u32 overflow of width*height must not wrap into a small number.
        let err = decode_qr_luma(u32::MAX, u32::MAX, &[0; 1]).unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
    }

    #[test]
    fn blank_and_noise_frames_have_no_code() {
        let err = decode_qr_luma(64, 48, &[255; 64 * 48]).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
    }

    #[test]
    fn random_frames_never_panic() {
        // A small xorshift so the test is repeatable without a dependency.
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for round in 0..300 {
            let w = (next() % 200) as u32 + 1;
            let h = (next() % 200) as u32 + 1;
            // Mostly the right length, sometimes not.
            let len = if round % 7 == 0 {
                (next() % 500) as usize
            } else {
                (w * h) as usize
            };
            let mode = next() % 3;
            let px: Vec<u8> = (0..len)
                .map(|i| match mode {
                    0 => next() as u8,
                    // Blocky noise looks more like finder patterns.
                    1 => [0, 255][(next() & 1) as usize],
                    _ => [0, 255][(i / 5 + i / (5 * w as usize)) & 1],
                })
                .collect();
            if let Ok(text) = decode_qr_luma(w, h, &px) {
                panic!("noise decoded to an invitation: {}", text.len());
            }
        }
    }

    #[test]
    fn a_damaged_code_is_not_read_as_another_invitation() {
        let payload = valid_payload();
        let m = invite_qr(&payload).unwrap();
        let (side, mut px) = render(&m, 3);
        // Blot out the middle third: beyond what level M corrects.
        let third = side / 3;
        for y in third..2 * third {
            for x in third..2 * third {
                px[(y * side + x) as usize] = 20;
            }
        }
        match decode_qr_luma(side, side, &px) {
            Ok(text) => assert_eq!(text, payload),
            Err(e) => assert!(
                matches!(e, Error::NotFound { .. } | Error::Pairing(_)),
                "{e:?}"
            ),
        }
    }
}
