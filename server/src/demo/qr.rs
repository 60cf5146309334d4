//! QR codes of otpauth URIs, drawn by the `qrcode` crate: as SVG for the
//! demo page (`POST /demo/qr`) and as Unicode half blocks for a terminal
//! (`mfa-server qr URI`).
//!
//! Only an `otpauth://` URI that the engine parses ([`ParsedKeyUri`]) of at
//! most [`MAX_BARCODE_URI_LEN`] bytes is drawn: this is not a general QR
//! service. The URI holds the secret, so it is held in a [`Zeroizing`]
//! string and never logged, and no error quotes it (the engine's
//! [`UriError`] never contains the secret).

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};
use totp_engine::{ParsedKeyUri, UriError};
use zeroize::Zeroizing;

/// The longest URI drawn, in bytes: a version-40 QR code at error
/// correction level M holds 2331 bytes, and a code denser than this one is
/// hard for a phone camera anyway. The server's own URIs are far shorter
/// (about 120 bytes plus the issuer and the account name).
pub const MAX_BARCODE_URI_LEN: usize = 2048;

/// Why a URI cannot be drawn. `Display` never quotes the URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// Longer than [`MAX_BARCODE_URI_LEN`] bytes.
    #[error("barcode_uri is longer than {MAX_BARCODE_URI_LEN} bytes")]
    TooLong,
    /// Not an otpauth URI the engine can use.
    #[error("barcode_uri is not a usable otpauth URI: {0}")]
    NotOtpauth(UriError),
    /// The QR encoder refused the data.
    #[error("barcode_uri cannot be drawn as a QR code: {0}")]
    Encode(String),
}

/// A checked otpauth URI, ready to be drawn; wiped on drop, and its
/// `Debug` shows nothing of it.
pub struct BarcodeUri(Zeroizing<String>);

impl std::fmt::Debug for BarcodeUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BarcodeUri(..)")
    }
}

impl BarcodeUri {
    /// Checks `uri`: at most [`MAX_BARCODE_URI_LEN`] bytes (checked before
    /// anything else reads it), then an otpauth URI the engine parses.
    ///
    /// # Errors
    ///
    /// [`QrError::TooLong`], [`QrError::NotOtpauth`].
    pub fn new(uri: Zeroizing<String>) -> Result<Self, QrError> {
        if uri.len() > MAX_BARCODE_URI_LEN {
            return Err(QrError::TooLong);
        }
        ParsedKeyUri::parse(&uri).map_err(QrError::NotOtpauth)?;
        Ok(Self(uri))
    }

    fn code(&self) -> Result<QrCode, QrError> {
        QrCode::with_error_correction_level(self.0.as_bytes(), EcLevel::M)
            .map_err(|e| QrError::Encode(e.to_string()))
    }

    /// The QR code as a standalone SVG document (black on white, with the
    /// quiet zone, at least 256 px wide).
    ///
    /// # Errors
    ///
    /// [`QrError::Encode`] (never for a URI that passed [`BarcodeUri::new`]).
    pub fn svg(&self) -> Result<String, QrError> {
        Ok(self
            .code()?
            .render::<svg::Color<'_>>()
            .min_dimensions(256, 256)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .quiet_zone(true)
            .build())
    }

    /// The QR code in Unicode half blocks (two modules per character
    /// cell), with the quiet zone. With `dark_terminal` the light modules
    /// are drawn as blocks, so that on light-on-dark text the code appears
    /// dark on light, as scanners expect; otherwise the dark ones are.
    ///
    /// # Errors
    ///
    /// [`QrError::Encode`] (never for a URI that passed [`BarcodeUri::new`]).
    pub fn terminal(&self, dark_terminal: bool) -> Result<String, QrError> {
        let (dark, light) = if dark_terminal {
            (unicode::Dense1x2::Light, unicode::Dense1x2::Dark)
        } else {
            (unicode::Dense1x2::Dark, unicode::Dense1x2::Light)
        };
        Ok(self
            .code()?
            .render::<unicode::Dense1x2>()
            .dark_color(dark)
            .light_color(light)
            .quiet_zone(true)
            .build())
    }

    /// The modules of the code, row by row (`true` is dark), without the
    /// quiet zone: what the renderings above draw.
    ///
    /// # Errors
    ///
    /// [`QrError::Encode`] (never for a URI that passed [`BarcodeUri::new`]).
    pub fn modules(&self) -> Result<Vec<Vec<bool>>, QrError> {
        let code = self.code()?;
        let width = code.width();
        Ok(code
            .to_colors()
            .chunks(width)
            .map(|row| row.iter().map(|c| *c == qrcode::Color::Dark).collect())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    const URI: &str = "otpauth://totp/ACME:jane%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=ACME&algorithm=SHA1&digits=6&period=30";

    fn uri(s: &str) -> Result<BarcodeUri, QrError> {
        BarcodeUri::new(Zeroizing::new(s.to_owned()))
    }

    #[test]
    fn refuses_what_is_not_a_usable_otpauth_uri() {
        assert_eq!(
            uri("https://example.com/").unwrap_err(),
            QrError::NotOtpauth(UriError::NotOtpauth)
        );
        assert_eq!(
            uri("otpauth://totp/ACME:jane").unwrap_err(),
            QrError::NotOtpauth(UriError::MissingSecret)
        );
        let long = format!("{URI}&x={}", "a".repeat(MAX_BARCODE_URI_LEN));
        assert_eq!(uri(&long).unwrap_err(), QrError::TooLong);
        // The longest accepted URI still fits a QR code.
        let longest = format!(
            "{URI}&x={}",
            "a".repeat(MAX_BARCODE_URI_LEN - URI.len() - 3)
        );
        assert_eq!(longest.len(), MAX_BARCODE_URI_LEN);
        assert!(uri(&longest).unwrap().svg().unwrap().starts_with("<?xml"));
    }

    #[test]
    fn errors_and_debug_never_quote_the_uri() {
        let err = uri("otpauth://totp/ACME:jane?secret=JBSWY3DP!!&issuer=ACME").unwrap_err();
        assert!(!err.to_string().contains("JBSWY3DP"), "{err}");
        assert_eq!(format!("{:?}", uri(URI).unwrap()), "BarcodeUri(..)");
    }

    /// Reads the half blocks back into modules and compares them with the
    /// encoder's: the terminal drawing is the code, quiet zone included.
    #[test]
    fn terminal_half_blocks_are_the_modules() {
        let code = uri(URI).unwrap();
        let modules = code.modules().unwrap();
        for dark_terminal in [false, true] {
            let text = code.terminal(dark_terminal).unwrap();
            let mut rows: Vec<Vec<bool>> = Vec::new();
            for line in text.lines() {
                let (mut top, mut bottom) = (Vec::new(), Vec::new());
                for c in line.chars() {
                    let (t, b) = match c {
                        ' ' => (false, false),
                        '\u{2580}' => (true, false),
                        '\u{2584}' => (false, true),
                        '\u{2588}' => (true, true),
                        other => panic!("unexpected {other:?}"),
                    };
                    // A block is a dark module, unless the drawing is inverted.
                    top.push(t != dark_terminal);
                    bottom.push(b != dark_terminal);
                }
                rows.push(top);
                rows.push(bottom);
            }
            let quiet = 4;
            let width = modules.len();
            for (y, row) in modules.iter().enumerate() {
                assert_eq!(&rows[y + quiet][quiet..quiet + width], row.as_slice());
            }
            assert!(rows[..quiet].iter().flatten().all(|dark| !dark));
        }
    }
}
