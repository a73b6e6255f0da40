//! Helm's `--set` grammar on arbitrary input, in every flavour: no panics.
#![no_main]

use ferry_helm::values::{SetKind, parse_set};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [SetKind::Typed, SetKind::String, SetKind::Json, SetKind::Literal] {
        let mut dest = serde_json::Map::new();
        let _ = parse_set(text, kind, &mut dest);
    }
});
