//! Deterministic robustness checks (the fuzz targets explore further):
//! truncated and mangled corpus templates, and hostile `--set` strings, must
//! give errors or output, never a panic.

use std::path::Path;

use ferry_helm::engine::{TemplateSet, object};
use ferry_helm::values::{SetKind, parse_set};

fn corpus_templates() -> Vec<String> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/charts");
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().contains("/templates/")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                out.push(text);
            }
        }
    }
    out.sort();
    out
}

fn exercise(source: &str) {
    let sources = vec![("c/templates/t.yaml".to_string(), source.to_string())];
    if let Ok(set) = TemplateSet::parse(&sources) {
        let renderer = set.renderer();
        let values = ferry_helm::json::from_serde(&serde_json::json!({
            "a": 1, "s": "x", "l": [1, {"k": "v"}], "m": {"n": {"o": true}}
        }));
        let data = object(vec![("Values", values)]);
        let _ = renderer.execute("c/templates/t.yaml", &data);
    }
}

#[test]
fn mangled_templates_never_panic() {
    let templates = corpus_templates();
    assert!(templates.len() > 20, "corpus found");
    let inserts = [
        "{{",
        "}}",
        "|",
        "(",
        ")",
        "$",
        ".",
        "\"",
        "{{-",
        "-}}",
        "{{ end }}",
        "{{ else }}",
    ];
    let mut runs = 0;
    for text in &templates {
        let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).step_by(17).collect();
        for (n, &cut) in boundaries.iter().enumerate() {
            exercise(&text[..cut]);
            let insert = inserts[n % inserts.len()];
            exercise(&format!("{}{insert}{}", &text[..cut], &text[cut..]));
            runs += 2;
        }
    }
    assert!(runs > 500, "exercised {runs} variants");
}

#[test]
fn hostile_set_strings_never_panic() {
    let cases = [
        "",
        "=",
        ",",
        "a",
        "a=",
        "a.b",
        "a..b=c",
        ".a=b",
        "a[",
        "a[]",
        "a[x]=1",
        "a[-1]=1",
        "a[99999999999]=1",
        "a[0][",
        "a[0].=1",
        "a={",
        "a={,}",
        "a={}",
        "a=}",
        "\\",
        "a\\",
        "a=\\",
        "a=b\\",
        "a[0]=1,a.b=2",
        "a.b=1,a[0]=2",
        "a=1,a.b=2",
        "{\"a\":",
        "a={\"x\"",
        "a=[1,",
        "💥=☃",
        "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s.t.u.v.w.x.y.z.aa.bb.cc.dd.ee.ff=1",
    ];
    for text in cases {
        for kind in [SetKind::Typed, SetKind::String, SetKind::Json, SetKind::Literal] {
            let mut dest = serde_json::Map::new();
            let _ = parse_set(text, kind, &mut dest);
        }
    }
    // Deep nesting is refused rather than recursing without bound.
    let deep = format!("{}=1", vec!["k"; 100].join("."));
    let mut dest = serde_json::Map::new();
    assert!(parse_set(&deep, SetKind::Typed, &mut dest).is_err());
}
