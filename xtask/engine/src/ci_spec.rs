//! `[ci]` in the manifest: the groups `race-hunt matrix` fans out to
//! (`ci.rs` turns them into jobs, shards and the gate).

use serde::Deserialize;

/// `[ci]` in the manifest.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct CiSpec {
    /// The runner label of every job whose target names none.
    #[serde(default = "default_runs_on")]
    pub runs_on: String,
    pub groups: Vec<GroupSpec>,
}

fn default_runs_on() -> String {
    "ubuntu-24.04".into()
}

/// One job kind: detectors that run together (they share a runner's
/// tools), on every target unless `targets` narrows it, in `shards` slices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct GroupSpec {
    pub name: String,
    pub detectors: Vec<String>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default = "one")]
    pub shards: usize,
}

fn one() -> usize {
    1
}

impl Default for CiSpec {
    fn default() -> Self {
        CiSpec { runs_on: default_runs_on(), groups: Vec::new() }
    }
}
