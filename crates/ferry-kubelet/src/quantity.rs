//! Kubernetes resource quantities (`100m`, `1Gi`, `2`), as the scheduler compares them.

/// Parses a quantity into milli-units (CPU: millicores; memory: milli-bytes are avoided by using
/// `parse_bytes`). Returns `None` for text that is not a quantity.
pub fn parse_milli(text: &str) -> Option<i128> {
    let text = text.trim();
    if let Some(number) = text.strip_suffix('m') {
        return number
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .map(|n| n.round() as i128);
    }
    parse_value(text).map(|v| (v * 1000.0).ceil() as i128)
}

/// Parses a quantity into whole units (bytes for memory, count for pods).
pub fn parse_bytes(text: &str) -> Option<i128> {
    parse_value(text).map(|v| v.ceil() as i128)
}

/// A quantity with its suffix applied, in whole units.
fn parse_value(text: &str) -> Option<f64> {
    const SUFFIXES: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Pi", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("Ei", 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| text.strip_suffix(suffix).map(|n| (n, *factor)))
        .unwrap_or((text, 1.0));
    let value = number
        .parse::<f64>()
        .ok()
        .filter(|n| n.is_finite() && *n >= 0.0)?;
    Some(value * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let milli = [
            ("100m", Some(100)),
            ("1", Some(1000)),
            ("0.5", Some(500)),
            ("2k", Some(2_000_000)),
            ("x", None),
        ];
        for (text, want) in milli {
            assert_eq!(parse_milli(text), want, "{text}");
        }
        let bytes = [
            ("1Gi", Some(1 << 30)),
            ("128Mi", Some(128 << 20)),
            ("1e3", Some(1000)),
            ("", None),
            ("-1", None),
        ];
        for (text, want) in bytes {
            assert_eq!(parse_bytes(text), want, "{text}");
        }
    }
}
