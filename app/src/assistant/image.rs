//! Camera frames as data URLs: decoded, size-checked and typed from their
//! magic bytes, so nothing but a JPEG, PNG or WebP reaches the provider.
//!
//! Images live only in the request's memory; they are never stored or logged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{Error, FieldError};

/// Largest decoded image accepted.
pub const MAX_IMAGE_BYTES: usize = 4 * 1024 * 1024;

/// The image formats the vision models take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// `image/jpeg`.
    Jpeg,
    /// `image/png`.
    Png,
    /// `image/webp`.
    Webp,
}

impl ImageFormat {
    /// The media type.
    pub fn mime(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
        }
    }

    /// The format whose magic bytes `bytes` starts with.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0xFF, 0xD8, 0xFF, ..] => Some(ImageFormat::Jpeg),
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(ImageFormat::Png),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(ImageFormat::Webp),
            _ => None,
        }
    }
}

/// A checked image, ready to send as a data URL.
#[derive(Clone)]
pub struct ValidImage {
    /// The format its bytes show.
    pub format: ImageFormat,
    /// `data:<detected type>;base64,<payload>`.
    pub data_url: String,
}

impl std::fmt::Debug for ValidImage {
    // Never print the image itself.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidImage").field("format", &self.format).finish_non_exhaustive()
    }
}

fn invalid(field: &str, message: impl Into<String>) -> Error {
    Error::Validation(vec![FieldError::new(field, message)])
}

/// Parses `data:image/…;base64,…` in `field`: 422 `validation-failed` when it
/// is not a base64 data URL, decodes to more than [`MAX_IMAGE_BYTES`], is not
/// a JPEG, PNG or WebP, or declares a type its bytes contradict.
pub fn parse_data_url(field: &str, url: &str) -> Result<ValidImage, Error> {
    let Some((header, payload)) = url.strip_prefix("data:").and_then(|rest| rest.split_once(',')) else {
        return Err(invalid(field, "must be a data URL: data:image/jpeg;base64,…"));
    };
    let Some(declared) = header.strip_suffix(";base64") else {
        return Err(invalid(field, "must be base64-encoded (data:<type>;base64,…)"));
    };
    // Refuse before decoding: 4 base64 characters carry 3 bytes.
    if payload.len() / 4 * 3 > MAX_IMAGE_BYTES + 3 {
        return Err(invalid(field, format!("is larger than {MAX_IMAGE_BYTES} bytes decoded")));
    }
    let bytes = STANDARD.decode(payload).map_err(|_| invalid(field, "is not valid base64"))?;
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(invalid(field, format!("is larger than {MAX_IMAGE_BYTES} bytes decoded")));
    }
    let format = ImageFormat::sniff(&bytes).ok_or_else(|| invalid(field, "is not a JPEG, PNG or WebP image"))?;
    if !declared.is_empty() && !declared.eq_ignore_ascii_case(format.mime()) {
        return Err(invalid(field, format!("declares {declared} but its bytes are {}", format.mime())));
    }
    Ok(ValidImage { format, data_url: format!("data:{};base64,{payload}", format.mime()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(mime: &str, bytes: &[u8]) -> String {
        format!("data:{mime};base64,{}", STANDARD.encode(bytes))
    }

    #[test]
    fn sniffs_the_three_formats() {
        assert_eq!(ImageFormat::sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(ImageFormat::Jpeg));
        assert_eq!(ImageFormat::sniff(b"\x89PNG\r\n\x1a\n...."), Some(ImageFormat::Png));
        assert_eq!(ImageFormat::sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some(ImageFormat::Webp));
        assert_eq!(ImageFormat::sniff(b"GIF89a"), None);
        assert_eq!(ImageFormat::sniff(b""), None);
    }

    #[test]
    fn accepts_a_png_and_rebuilds_the_url_from_its_bytes() {
        let image = parse_data_url("image", &url("", b"\x89PNG\r\n\x1a\nrest")).expect("valid");
        assert_eq!(image.format, ImageFormat::Png);
        assert!(image.data_url.starts_with("data:image/png;base64,"));
    }

    #[test]
    fn rejects_what_is_not_an_image() {
        for bad in [
            "https://example.com/a.jpg".to_owned(),
            "data:image/png,rawbytes".to_owned(),
            "data:image/png;base64,@@@not-base64@@@".to_owned(),
            url("image/png", b"GIF89a......"),
            url("image/png", &[0xFF, 0xD8, 0xFF, 0xE0]),
            url("image/jpeg", &[0xFF; MAX_IMAGE_BYTES + 1]),
        ] {
            assert!(
                matches!(parse_data_url("image", &bad), Err(Error::Validation(_))),
                "{}",
                &bad[..40.min(bad.len())]
            );
        }
    }
}
