//! The invitation QR over FFI: the matrix to draw and reading a camera
//! frame. Wrappers only; the rules are in `collabzium_core::sync::qr`.

use collabzium_core::sync::qr;

use crate::error::Result;

/// The modules of an invitation's QR code, row by row from the top left,
/// `true` for dark; draw `quiet_zone` light modules around the grid.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QrMatrix {
    pub size: u32,
    pub modules: Vec<bool>,
    pub quiet_zone: u32,
}

/// The QR matrix of an invitation (`InvitationView.qr`, or a typed code).
/// Anything that is not an invitation is refused.
#[uniffi::export]
pub fn invite_qr(code: String) -> Result<QrMatrix> {
    let m = qr::invite_qr(&code)?;
    Ok(QrMatrix {
        size: m.size,
        modules: m.modules,
        quiet_zone: m.quiet_zone,
    })
}

/// Reads the invitation in a grayscale frame (`width` × `height` bytes, row
/// by row, no padding): the text to pass to `join`. `InvalidInput` (field
/// `image`) for a frame of the wrong size, `NotFound` when no QR code is
/// readable, `Pairing` when the code is not an invitation.
#[uniffi::export]
pub fn decode_qr_luma(width: u32, height: u32, luma: Vec<u8>) -> Result<String> {
    Ok(qr::decode_qr_luma(width, height, &luma)?)
}
