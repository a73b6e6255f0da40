//! Image references as a container runtime reports them.

use sha2::{Digest, Sha256};

/// The fully qualified form of an image reference, as containerd reports it in `status.containerStatuses[].image`
/// lookups: `nginx` → `docker.io/library/nginx:latest`, `repo/app:v1` → `docker.io/repo/app:v1`.
/// References with a digest keep it.
pub fn normalize(reference: &str) -> String {
    let (name, suffix) = split_tag(reference);
    let first = name.split('/').next().unwrap_or_default();
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let qualified = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    match suffix {
        Some(suffix) => format!("{qualified}{suffix}"),
        None => format!("{qualified}:latest"),
    }
}

/// Splits `name[:tag][@digest]` into the name and the `:tag`/`@digest` suffix (if any).
fn split_tag(reference: &str) -> (&str, Option<&str>) {
    if let Some(at) = reference.find('@') {
        return (&reference[..at], Some(&reference[at..]));
    }
    // A colon after the last slash is a tag; before it, a registry port.
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[last_slash..].find(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (&reference[..at], Some(&reference[at..]))
        }
        None => (reference, None),
    }
}

/// The repository digest a node reports as `imageID` for an image: stable for the same reference,
/// different for a different tag, as a registry would give.
pub fn image_id(reference: &str) -> String {
    let normalized = normalize(reference);
    if normalized.contains('@') {
        return normalized;
    }
    let name = split_tag(&normalized).0;
    format!("{name}@sha256:{}", sha256_hex(&normalized))
}

/// Lower-case hex SHA-256 of `text`: the simulated runtime's digests and container ids.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether the default pull policy for this reference is `Always` (the `:latest` tag or no tag).
pub fn is_latest(reference: &str) -> bool {
    match split_tag(reference).1 {
        None => true,
        Some(suffix) => suffix == ":latest",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_containerd() {
        let cases = [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            (
                "openkruise/kruise:hello_world-d92ae174b",
                "docker.io/openkruise/kruise:hello_world-d92ae174b",
            ),
            ("ghcr.io/org/app:v1", "ghcr.io/org/app:v1"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("registry:5000/team/app:2", "registry:5000/team/app:2"),
            ("busybox@sha256:abc", "docker.io/library/busybox@sha256:abc"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn image_ids_differ_by_tag_and_are_stable() {
        let a = image_id("openkruise/kruise:hello_world-d92ae174b");
        assert!(a.starts_with("docker.io/openkruise/kruise@sha256:"), "{a}");
        assert_eq!(a.len(), "docker.io/openkruise/kruise@sha256:".len() + 64);
        assert_eq!(a, image_id("docker.io/openkruise/kruise:hello_world-d92ae174b"));
        assert_ne!(a, image_id("openkruise/kruise:hello_world-0000000"));
    }

    #[test]
    fn latest_detection() {
        assert!(is_latest("nginx"));
        assert!(is_latest("nginx:latest"));
        assert!(!is_latest("nginx:1.0"));
        assert!(!is_latest("localhost:5000/app:1"));
        assert!(is_latest("localhost:5000/app"));
    }
}
