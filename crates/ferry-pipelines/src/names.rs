//! Names of generated objects.

/// FNV-1a, 64-bit: a stable, dependency-free hash for generated names.
pub fn fnv1a(data: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in data.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// `<parent>-<suffix>`, kept within the 63-character limit of a label value the way
/// knative's `kmeta.ChildName` does: when too long, a prefix plus a hash of the full name.
/// (Upstream hashes with MD5; Ferry uses FNV-1a, so long names differ from Tekton's.)
pub fn child_name(parent: &str, suffix: &str) -> String {
    const LIMIT: usize = 63;
    let full = format!("{parent}-{suffix}");
    if full.len() <= LIMIT {
        return full;
    }
    let hash = format!("{:016x}", fnv1a(&full));
    let keep = LIMIT - hash.len();
    let mut prefix: String = full.chars().take(keep).collect();
    while prefix.ends_with('-') {
        prefix.pop();
    }
    format!("{prefix}{hash}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_are_joined_long_ones_hashed() {
        assert_eq!(child_name("pr", "build"), "pr-build");
        let long = child_name(&"p".repeat(60), "task-with-a-long-name");
        assert_eq!(long.len(), 63);
        assert!(long.starts_with("ppp"));
        assert_ne!(long, child_name(&"p".repeat(60), "task-with-a-long-namf"));
    }
}
