//! Parse arbitrary template text and, when it parses, execute it against a
//! small fixed data set: neither step may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let sources = vec![("fuzz/templates/t.yaml".to_string(), source.to_string())];
    if let Ok(set) = ferry_helm::engine::TemplateSet::parse(&sources) {
        let renderer = set.renderer();
        let values = ferry_helm::json::from_serde(&serde_json::json!({
            "a": 1, "s": "text", "l": [1, "two", {"k": "v"}], "m": {"x": {"y": true}}
        }));
        let data = ferry_helm::engine::object(vec![("Values", values)]);
        let _ = renderer.execute("fuzz/templates/t.yaml", &data);
    }
});
