//! Where the engine's own sources are.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The engine's source tree: the workspace with the scenario runner and
/// the lesson's fixtures (canaries), wherever this engine was built from
/// (this repository, a git or path dependency, a `cargo install`).
pub fn engine_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        dir.ancestors().nth(2).expect("the engine lives at xtask/engine of its workspace").to_path_buf()
    })
}
