//! The `[sim]` section: settings of the simulator's real-container runs.

use super::{sp, Validator};
use crate::env::raw;
use crate::env::SimSettings;

impl Validator {
    pub(super) fn sim(&mut self, sim: Option<&raw::Sim>) -> SimSettings {
        SimSettings {
            time_scale: match sim.and_then(|s| s.time_scale.as_ref()) {
                Some(t) => {
                    let v = *t.get_ref();
                    if !(1.0..=1000.0).contains(&v) {
                        self.err("E1401", format!("sim.time_scale {v} is outside 1-1000"), sp(t), "out of range", "1 runs AWS's own timings; 30 makes a 30 s health check run every second");
                    }
                    v
                }
                None => 1.0,
            },
        }
    }
}
