//! `check`'s CHR-DEP-001 and `rehearse deploy` decide "every deployment has
//! downtime" with one function (`chronous_core::review::deploy`): over a
//! grid of settings, the lint's verdict and the rehearsal's prediction (no
//! faults) agree, and the rehearsal suggests the lint's fix word for word.

use chronous_core::env::{self, Environment};
use chronous_core::review::deploy::{guaranteed_downtime, zero_downtime_settings};
use chronous_rehearse::rehearse::{rehearse_deploy, Outcome, RehearseInput};

const SEED_TOML: &str = include_str!("../../../fixtures/seed/chronous.toml");

fn seed_env() -> Environment {
    env::load("seed", SEED_TOML)
        .env
        .expect("the seed validates")
}

#[test]
fn the_lint_and_the_rehearsal_agree_on_downtime() {
    let mut checked = 0;
    for desired in 1..=3u32 {
        for min in [0u32, 25, 50, 100] {
            for max in [100u32, 150, 200] {
                for static_port in [true, false] {
                    for instances in [desired, desired + 1] {
                        let mut e = seed_env();
                        e.service.desired_count = desired;
                        e.service.minimum_healthy_percent = min;
                        e.service.maximum_percent = max;
                        e.service.host_port = static_port.then_some(80);
                        e.cluster.instance_count = instances;
                        let mut i = RehearseInput::from_environment(
                            &e,
                            Some("chronous-payments-web-api:1.1"),
                        );
                        if !i.service.can_replace() {
                            continue; // E0806: validation refuses these settings
                        }
                        i.seed = 7;
                        i.horizon_ms = 900_000;
                        let case = format!("desired {desired}, min {min}, max {max}, static port {static_port}, {instances} instance(s)");
                        let r = rehearse_deploy(&i).unwrap_or_else(|err| panic!("{case}: {err}"));
                        let fix = zero_downtime_settings(desired, static_port, instances);
                        if guaranteed_downtime(desired, min) {
                            assert_eq!(r.outcome, Outcome::Completed, "{case}");
                            assert!(
                                r.predicted_downtime_ms > 0,
                                "{case}: the lint says downtime, the rehearsal none"
                            );
                            assert!(r.suggestions.contains(&fix), "{case}: {:?}", r.suggestions);
                        } else {
                            assert_eq!(
                                r.predicted_downtime_ms, 0,
                                "{case}: the rehearsal predicts downtime, the lint says none"
                            );
                        }
                        checked += 1;
                    }
                }
            }
        }
    }
    assert!(checked > 100, "{checked} cases");
}
