//! Decoding of inputs: UTF-8 with or without a byte-order mark, UTF-16LE and UTF-16BE with one
//! (what Windows PowerShell's `>`, `wmic` and `reg export` write).

use super::codes;
use crate::diag::Diag;

/// Largest input accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = crate::snapshot::MAX_SNAPSHOT_BYTES;

/// The text of an input, or a diagnostic naming the file.
pub fn decode(name: &str, bytes: &[u8]) -> Result<String, Diag> {
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(Diag::error(
            codes::UNREADABLE,
            format!(
                "{name} is {} bytes; the limit is {MAX_INPUT_BYTES}",
                bytes.len()
            ),
        )
        .help("import one host's files at a time"));
    }
    match crate::snapshot::decode(bytes) {
        Ok(text) => match text.find('\0') {
            None => Ok(text),
            Some(at) => Err(Diag::error(
                codes::ENCODING,
                format!("{name}: cannot decode the text: it holds a NUL character at byte {at}"),
            )
            .help(if looks_like_utf16_without_bom(bytes) {
                "this looks like UTF-16 without a byte-order mark; save it again with one (Windows \
                 PowerShell's `Out-File -Encoding Unicode` writes one)"
            } else {
                "this is not a text file; check the path"
            })),
        },
        Err(err) => {
            let help = if looks_like_utf16_without_bom(bytes) {
                "this looks like UTF-16 without a byte-order mark; save it again with one (Windows \
                 PowerShell's `Out-File -Encoding Unicode` writes one)"
                    .to_string()
            } else if err.message.contains("UTF-8") {
                "this file is neither UTF-8 nor UTF-16 with a byte-order mark; cmd.exe writes the \
                 console's OEM code page, so collect with `chcp 65001` first, or convert the file \
                 to UTF-8"
                    .to_string()
            } else {
                err.help
                    .unwrap_or_else(|| "collect the file again".to_string())
            };
            let at = err
                .labels
                .first()
                .map(|(start, _, _)| format!(" at byte {start}"))
                .unwrap_or_default();
            Err(Diag::error(
                codes::ENCODING,
                format!("{name}: cannot decode the text{at}: {}", err.message),
            )
            .help(help))
        }
    }
}

fn looks_like_utf16_without_bom(bytes: &[u8]) -> bool {
    let sample = &bytes[..bytes.len().min(64)];
    sample.len() >= 4 && sample.iter().filter(|b| **b == 0).count() * 3 >= sample.len()
}

/// Encodes text as UTF-16LE with a byte-order mark, as Windows writes it (for tests and tools).
pub fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

/// Encodes text as UTF-16BE with a byte-order mark.
pub fn utf16be_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFE, 0xFF];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_be_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_encoding_decodes_to_the_same_text() {
        let text = "SERVICE_NAME: Alerter\r\n";
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend_from_slice(text.as_bytes());
        for bytes in [
            text.as_bytes().to_vec(),
            bom8,
            utf16le_with_bom(text),
            utf16be_with_bom(text),
        ] {
            assert_eq!(decode("x", &bytes).ok().as_deref(), Some(text));
        }
    }

    #[test]
    fn utf16_without_bom_is_refused_with_a_hint() {
        let bytes: Vec<u8> = "SERVICE_NAME"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let err = decode("x.txt", &bytes).err();
        let help = err.and_then(|d| d.help).unwrap_or_default();
        assert!(help.contains("byte-order mark"), "{help}");
    }
}
