//! `cargo xtask`: race-hunt's build system, a thin binary over the engine
//! (`xtask/engine`, the `race-hunt` library). Another repository adopts
//! race-hunt with the same few lines.

fn main() {
    race_hunt::main()
}
