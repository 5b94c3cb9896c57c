//! `chaos`: `stress` with the facade's seeded schedule noise (`--cfg
//! race_chaos`): random yields and short spins at every sync point and
//! cell access, so narrow check-then-act windows open. Its own column so
//! the matrix shows what noise adds over plain stress. The seed is in the
//! evidence; the replay command starts at the failing iteration, whose
//! noise stream is derived from (seed, iteration).

use crate::builds::BuildSpec;
use crate::detector::{Context, Detector};
use crate::target::Target;

pub struct Chaos;

impl Detector for Chaos {
    fn name(&self) -> &'static str {
        "chaos"
    }

    fn build(&self, _: &Target, _: &Context<'_>) -> BuildSpec {
        BuildSpec { rustflags: vec!["--cfg".into(), "race_chaos".into()], ..BuildSpec::plain("chaos") }
    }
}
