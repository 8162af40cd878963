//! Finds where a JSON pointer's value sits in the raw text of a JSON document, so that
//! evidence and errors can name a line and column without a location-tracking parse on the
//! fast path. The scan is iterative: no recursion, whatever the nesting.

/// Byte range of the value at `pointer` (RFC 6901 segments, already unescaped) in `text`.
pub fn locate(text: &str, pointer: &[&str]) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, skip_bom(bytes));
    for segment in pointer {
        pos = skip_ws(bytes, pos);
        match bytes.get(pos)? {
            b'{' => pos = find_member(text, pos, segment)?,
            b'[' => pos = find_element(bytes, pos, segment.parse().ok()?)?,
            _ => return None,
        }
    }
    let start = skip_ws(bytes, pos);
    Some((start, skip_value(bytes, start)?))
}

/// Splits a JSON pointer such as `/services/3/name` into unescaped segments.
pub fn split_pointer(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Escapes one segment for a JSON pointer.
pub fn escape_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn skip_bom(bytes: &[u8]) -> usize {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        3
    } else {
        0
    }
}

fn skip_ws(bytes: &[u8], mut pos: usize) -> usize {
    while matches!(bytes.get(pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        pos += 1;
    }
    pos
}

/// From the `{` at `pos`, the start of the value whose key is `key`.
fn find_member(text: &str, pos: usize, key: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut pos = skip_ws(bytes, pos + 1);
    loop {
        match bytes.get(pos)? {
            b'}' => return None,
            b'"' => {
                let end = skip_string(bytes, pos)?;
                let raw = &text[pos..end];
                let name: String = serde_json::from_str(raw).ok()?;
                pos = skip_ws(bytes, end);
                if bytes.get(pos) != Some(&b':') {
                    return None;
                }
                pos = skip_ws(bytes, pos + 1);
                if name == key {
                    return Some(pos);
                }
                pos = skip_ws(bytes, skip_value(bytes, pos)?);
                match bytes.get(pos)? {
                    b',' => pos = skip_ws(bytes, pos + 1),
                    _ => return None,
                }
            }
            _ => return None,
        }
    }
}

/// From the `[` at `pos`, the start of element `index`.
fn find_element(bytes: &[u8], pos: usize, index: usize) -> Option<usize> {
    let mut pos = skip_ws(bytes, pos + 1);
    if bytes.get(pos) == Some(&b']') {
        return None;
    }
    for _ in 0..index {
        pos = skip_ws(bytes, skip_value(bytes, pos)?);
        match bytes.get(pos)? {
            b',' => pos = skip_ws(bytes, pos + 1),
            _ => return None,
        }
    }
    Some(pos)
}

fn skip_string(bytes: &[u8], pos: usize) -> Option<usize> {
    let mut i = pos + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The end of the value starting at `pos`, counting brackets instead of recursing.
fn skip_value(bytes: &[u8], pos: usize) -> Option<usize> {
    match bytes.get(pos)? {
        b'"' => skip_string(bytes, pos),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = pos;
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => {
                        i = skip_string(bytes, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let mut i = pos;
            while i < bytes.len()
                && !matches!(bytes[i], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            {
                i += 1;
            }
            Some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values() {
        let text = r#"{"a": {"b/c": [1, {"x": "y\"z"}, true]}, "d": 2}"#;
        let at = |p: &[&str]| locate(text, p).map(|(s, e)| &text[s..e]);
        assert_eq!(at(&["d"]), Some("2"));
        assert_eq!(at(&["a", "b/c", "1", "x"]), Some(r#""y\"z""#));
        assert_eq!(at(&["a", "b/c", "2"]), Some("true"));
        assert_eq!(at(&["a", "b/c", "3"]), None);
        assert_eq!(at(&["nope"]), None);
        assert_eq!(split_pointer("/a/b~1c/0"), vec!["a", "b/c", "0"]);
    }
}
