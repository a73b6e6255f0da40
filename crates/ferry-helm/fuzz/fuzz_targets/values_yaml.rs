//! Values files and `toYaml` round trips on arbitrary YAML: no panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = ferry_helm::yaml::parse_yaml(text) {
        let emitted = ferry_helm::yaml::to_yaml(&value);
        let _ = ferry_helm::yaml::parse_yaml(&emitted);
        let _ = ferry_helm::json::to_json(&value, Some("  "));
    }
});
