//! `stress`: the scenario in a loop on real threads, release build, no
//! help: what a user's own loop test would see.

use crate::builds::BuildSpec;
use crate::detector::{Context, Detector};
use crate::target::Target;

pub struct Stress;

impl Detector for Stress {
    fn name(&self) -> &'static str {
        "stress"
    }

    fn build(&self, _: &Target, _: &Context<'_>) -> BuildSpec {
        BuildSpec::plain("stress")
    }
}
