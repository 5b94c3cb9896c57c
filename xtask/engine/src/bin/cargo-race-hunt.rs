//! `cargo race-hunt ...`: the engine installed with `cargo install`, the
//! same commands as `cargo xtask ...` in this repository.

fn main() {
    race_hunt::main()
}
