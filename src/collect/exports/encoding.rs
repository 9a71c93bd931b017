//! The text of an export file, whichever way Windows wrote it: UTF-8 with or without a
//! byte-order mark (the admin center's downloads, PowerShell's `-Encoding utf8`), or UTF-16
//! behind a byte-order mark (Windows PowerShell 5.1's `>` and `Out-File` write UTF-16LE unless
//! told otherwise). The bytes themselves are kept unchanged in raw/; only the reading decodes.

use crate::snapshot::TextEncoding;

/// Why a file's bytes are not text this tool reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotText {
    /// Not valid UTF-8 at this byte offset (and no UTF-16 byte-order mark).
    Utf8(usize),
    /// A UTF-16 file of an odd number of bytes, or with an unpaired surrogate.
    Utf16,
}

impl NotText {
    pub(crate) fn describe(&self) -> String {
        match self {
            NotText::Utf8(at) => format!(
                "it is not UTF-8 text (byte {at}) and has no UTF-16 byte-order mark; save it as UTF-8 (PowerShell: -Encoding utf8)"
            ),
            NotText::Utf16 => {
                "it starts with a UTF-16 byte-order mark but is not whole UTF-16 text (cut short?); save it again".to_string()
            }
        }
    }
}

/// Decodes a file's bytes into text, saying which encoding its first bytes showed.
pub(crate) fn decode(bytes: &[u8]) -> Result<(String, TextEncoding), NotText> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return utf8(rest).map(|t| (t, TextEncoding::Utf8Bom));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return utf16(rest, u16::from_le_bytes).map(|t| (t, TextEncoding::Utf16LeBom));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return utf16(rest, u16::from_be_bytes).map(|t| (t, TextEncoding::Utf16BeBom));
    }
    utf8(bytes).map(|t| (t, TextEncoding::Utf8))
}

fn utf8(bytes: &[u8]) -> Result<String, NotText> {
    std::str::from_utf8(bytes)
        .map(str::to_string)
        .map_err(|e| NotText::Utf8(e.valid_up_to()))
}

fn utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, NotText> {
    if !bytes.len().is_multiple_of(2) {
        return Err(NotText::Utf16);
    }
    let units = bytes.chunks_exact(2).map(|c| unit([c[0], c[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|_| NotText::Utf16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le_bom(text: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    }

    #[test]
    fn every_windows_encoding_reads_as_the_same_text() {
        let text = "[{\"UserPrincipalName\":\"zoë@contoso.com\"}]";
        assert_eq!(
            decode(text.as_bytes()).unwrap(),
            (text.to_string(), TextEncoding::Utf8)
        );
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(text.as_bytes());
        assert_eq!(
            decode(&bom).unwrap(),
            (text.to_string(), TextEncoding::Utf8Bom)
        );
        assert_eq!(
            decode(&utf16le_bom(text)).unwrap(),
            (text.to_string(), TextEncoding::Utf16LeBom)
        );
        let mut be = vec![0xFE, 0xFF];
        be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(
            decode(&be).unwrap(),
            (text.to_string(), TextEncoding::Utf16BeBom)
        );
    }

    #[test]
    fn broken_text_is_refused() {
        let mut cut = utf16le_bom("[{}]");
        cut.pop();
        assert_eq!(decode(&cut), Err(NotText::Utf16));
        // Windows-1252 "é".
        assert_eq!(decode(b"caf\xE9"), Err(NotText::Utf8(3)));
    }
}
