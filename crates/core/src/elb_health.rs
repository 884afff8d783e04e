//! The classic ELB's health-check state machine, one per registered instance.
//!
//! A classic ELB checks each registered instance every `interval`; a check
//! fails when it is not answered within `timeout` (or, for `HTTP:` targets,
//! not with a 200). A newly registered instance is OutOfService ("Instance
//! registration is still in progress.") until `healthy_threshold` consecutive
//! checks pass; an InService instance goes OutOfService after
//! `unhealthy_threshold` consecutive failures, and comes back after
//! `healthy_threshold` passes. States, reason codes and descriptions are the
//! ones `DescribeInstanceHealth` returns. This is the only copy of that logic:
//! the simulator's HTTP load balancer (`chronous_sim::elb`), its controller
//! and the modelled runtime of rehearsals all drive a [`Health`] per
//! instance, so the rehearsal's prediction and the real proxy cannot drift
//! apart. Pure: whoever runs the checks passes their results and the time in.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ecs::Millis;

/// `State` of `DescribeInstanceHealth`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    InService,
    OutOfService,
}

/// `ReasonCode` of `DescribeInstanceHealth`: whether the cause of an
/// OutOfService instance is the load balancer or the instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    /// `ELB`
    Elb,
    /// `Instance`
    Instance,
    /// `N/A`
    NotApplicable,
}

impl ReasonCode {
    /// As AWS writes it: `ELB`, `Instance` or `N/A`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Elb => "ELB",
            ReasonCode::Instance => "Instance",
            ReasonCode::NotApplicable => "N/A",
        }
    }
}

/// Why an instance is in its state: each is one `Description` of
/// `DescribeInstanceHealth`, and decides the state and the reason code.
/// Serialized as its description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// InService (`N/A`).
    InService,
    /// OutOfService, `ELB`: registered, not yet `healthy_threshold` passes.
    RegistrationInProgress,
    /// OutOfService, `Instance`: `unhealthy_threshold` failures in a row, not
    /// yet `healthy_threshold` passes since.
    FailedHealthChecks,
    /// OutOfService, `N/A`: deregistered; its checks no longer count.
    NotRegistered,
}

impl Reason {
    /// Every reason, for parsing descriptions back.
    pub const ALL: [Reason; 4] = [
        Reason::InService,
        Reason::RegistrationInProgress,
        Reason::FailedHealthChecks,
        Reason::NotRegistered,
    ];

    pub fn state(self) -> State {
        match self {
            Reason::InService => State::InService,
            Reason::RegistrationInProgress | Reason::FailedHealthChecks | Reason::NotRegistered => {
                State::OutOfService
            }
        }
    }

    pub fn code(self) -> ReasonCode {
        match self {
            Reason::InService | Reason::NotRegistered => ReasonCode::NotApplicable,
            Reason::RegistrationInProgress => ReasonCode::Elb,
            Reason::FailedHealthChecks => ReasonCode::Instance,
        }
    }

    /// AWS's `Description`, word for word.
    pub fn description(self) -> &'static str {
        match self {
            Reason::InService => "N/A",
            Reason::RegistrationInProgress => "Instance registration is still in progress.",
            Reason::FailedHealthChecks => {
                "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."
            }
            Reason::NotRegistered => "Instance is not currently registered with the LoadBalancer.",
        }
    }

    /// What the ECS scheduler is told of a task behind this instance:
    /// healthy when InService, unhealthy when its checks failed, nothing
    /// while its registration is in progress or after it is deregistered.
    pub fn verdict(self) -> Option<bool> {
        match self {
            Reason::InService => Some(true),
            Reason::FailedHealthChecks => Some(false),
            Reason::RegistrationInProgress | Reason::NotRegistered => None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.description())
    }
}

impl<'de> Deserialize<'de> for Reason {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Reason, D::Error> {
        let text = String::deserialize(d)?;
        Reason::ALL
            .into_iter()
            .find(|r| r.description() == text)
            .ok_or_else(|| {
                serde::de::Error::custom(format!("unknown instance health description `{text}`"))
            })
    }
}

/// What a health check settings refuses (`ConfigureHealthCheck`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HealthCheckError {
    #[error("interval and timeout must be more than zero")]
    ZeroTime,
    #[error("the timeout ({timeout:?}) must be less than the interval ({interval:?})")]
    TimeoutNotBelowInterval {
        timeout: Duration,
        interval: Duration,
    },
    #[error("the healthy and unhealthy thresholds must be at least 1")]
    ZeroThreshold,
}

/// A classic ELB health check (`HealthCheck` of `ConfigureHealthCheck`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// `HTTP:port/path` or `TCP:port` (`HTTPS:` and `SSL:` too on AWS).
    pub target: String,
    pub interval: Duration,
    /// Must be less than `interval`, as AWS requires.
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

impl HealthCheck {
    /// Check the timings and thresholds (the target is the prober's business).
    pub fn validate_timings(&self) -> Result<(), HealthCheckError> {
        if self.interval.is_zero() || self.timeout.is_zero() {
            return Err(HealthCheckError::ZeroTime);
        }
        if self.timeout >= self.interval {
            return Err(HealthCheckError::TimeoutNotBelowInterval {
                timeout: self.timeout,
                interval: self.interval,
            });
        }
        if self.healthy_threshold == 0 || self.unhealthy_threshold == 0 {
            return Err(HealthCheckError::ZeroThreshold);
        }
        Ok(())
    }

    pub fn thresholds(&self) -> Thresholds {
        Thresholds {
            healthy: self.healthy_threshold,
            unhealthy: self.unhealthy_threshold,
        }
    }
}

/// `HealthyThreshold` and `UnhealthyThreshold`: all a check's result needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    pub healthy: u32,
    pub unhealthy: u32,
}

/// The result of one health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    Pass,
    Fail,
}

/// The instance's reason (and so its state) changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: Reason,
    pub to: Reason,
    pub at_ms: Millis,
}

impl Transition {
    /// InService to OutOfService or back (a registration that fails its
    /// checks stays OutOfService, with another reason).
    pub fn state_changed(&self) -> bool {
        self.from.state() != self.to.state()
    }
}

/// The health of one registered instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    reason: Reason,
    consecutive_ok: u32,
    consecutive_fail: u32,
    since_ms: Millis,
}

impl Health {
    /// Registered at `at_ms`: OutOfService, registration in progress.
    pub fn registered(at_ms: Millis) -> Health {
        Health {
            reason: Reason::RegistrationInProgress,
            consecutive_ok: 0,
            consecutive_fail: 0,
            since_ms: at_ms,
        }
    }

    /// Registered again at `at_ms` as an instance that was InService when the
    /// process keeping this state restarted (a real ELB keeps it).
    pub fn restored(at_ms: Millis, t: Thresholds) -> Health {
        Health {
            reason: Reason::InService,
            consecutive_ok: t.healthy,
            consecutive_fail: 0,
            since_ms: at_ms,
        }
    }

    pub fn state(&self) -> State {
        self.reason.state()
    }
    pub fn reason(&self) -> Reason {
        self.reason
    }
    pub fn consecutive_ok(&self) -> u32 {
        self.consecutive_ok
    }
    pub fn consecutive_fail(&self) -> u32 {
        self.consecutive_fail
    }
    /// When the current reason began.
    pub fn since_ms(&self) -> Millis {
        self.since_ms
    }

    /// Count a check's result at `at_ms`, with the thresholds in force then.
    /// A deregistered instance counts nothing.
    pub fn record(&mut self, at_ms: Millis, check: Check, t: Thresholds) -> Option<Transition> {
        if self.reason == Reason::NotRegistered {
            return None;
        }
        let next = match check {
            Check::Pass => {
                self.consecutive_ok = self.consecutive_ok.saturating_add(1);
                self.consecutive_fail = 0;
                let ready = self.consecutive_ok >= t.healthy;
                (self.state() == State::OutOfService && ready).then_some(Reason::InService)
            }
            Check::Fail => {
                self.consecutive_fail = self.consecutive_fail.saturating_add(1);
                self.consecutive_ok = 0;
                (self.consecutive_fail >= t.unhealthy).then_some(Reason::FailedHealthChecks)
            }
        };
        self.move_to(next?, at_ms)
    }

    /// Deregistered at `at_ms`: OutOfService, not registered; later checks
    /// count nothing. The transition says what it was.
    pub fn deregister(&mut self, at_ms: Millis) -> Option<Transition> {
        self.move_to(Reason::NotRegistered, at_ms)
    }

    fn move_to(&mut self, to: Reason, at_ms: Millis) -> Option<Transition> {
        if to == self.reason {
            return None;
        }
        let from = std::mem::replace(&mut self.reason, to);
        self.since_ms = at_ms;
        Some(Transition { from, to, at_ms })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        healthy: 3,
        unhealthy: 2,
    };

    /// Record `checks` from `at` on, one a second; the transitions.
    fn run(h: &mut Health, at: Millis, checks: &[Check]) -> Vec<Transition> {
        checks
            .iter()
            .enumerate()
            .filter_map(|(i, c)| h.record(at + i as Millis * 1000, *c, T))
            .collect()
    }

    use Check::{Fail, Pass};

    #[test]
    fn a_new_instance_is_in_service_after_healthy_threshold_passes() {
        let mut h = Health::registered(500);
        assert_eq!(
            (h.state(), h.reason(), h.reason().code()),
            (
                State::OutOfService,
                Reason::RegistrationInProgress,
                ReasonCode::Elb
            )
        );
        assert_eq!(h.reason().verdict(), None);
        assert_eq!(run(&mut h, 1000, &[Pass, Pass]), vec![]);
        assert_eq!(h.consecutive_ok(), 2);
        let t = run(&mut h, 3000, &[Pass]);
        assert_eq!(
            t,
            vec![Transition {
                from: Reason::RegistrationInProgress,
                to: Reason::InService,
                at_ms: 3000
            }]
        );
        assert!(t[0].state_changed());
        assert_eq!((h.state(), h.since_ms()), (State::InService, 3000));
        assert_eq!(
            (h.reason().code().as_str(), h.reason().description()),
            ("N/A", "N/A")
        );
        // More passes change nothing.
        assert_eq!(run(&mut h, 4000, &[Pass, Pass]), vec![]);
    }

    #[test]
    fn a_pass_resets_the_failures_and_a_failure_the_passes() {
        let mut h = Health::registered(0);
        assert_eq!(run(&mut h, 0, &[Pass, Pass, Fail, Pass, Pass]), vec![]);
        assert_eq!((h.consecutive_ok(), h.consecutive_fail()), (2, 0));
        assert_eq!(h.state(), State::OutOfService);
        assert_eq!(run(&mut h, 5000, &[Pass]).len(), 1);
        assert_eq!(run(&mut h, 6000, &[Fail, Pass, Fail, Pass]), vec![]);
        assert_eq!(
            h.state(),
            State::InService,
            "one failure at a time is not enough"
        );
    }

    #[test]
    fn a_registration_that_fails_its_checks_changes_reason_not_state() {
        let mut h = Health::registered(0);
        assert_eq!(run(&mut h, 0, &[Fail]), vec![]);
        let t = run(&mut h, 1000, &[Fail]);
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].from, t[0].to, t[0].state_changed()),
            (
                Reason::RegistrationInProgress,
                Reason::FailedHealthChecks,
                false
            )
        );
        assert_eq!(h.reason().code(), ReasonCode::Instance);
        assert_eq!(h.reason().verdict(), Some(false));
        assert_eq!(
            h.reason().description(),
            "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."
        );
        // Failing on is no news.
        assert_eq!(run(&mut h, 2000, &[Fail, Fail]), vec![]);
        assert_eq!(h.consecutive_fail(), 4);
    }

    #[test]
    fn a_flap_goes_out_after_unhealthy_threshold_and_back_after_healthy_threshold() {
        let mut h = Health::registered(0);
        run(&mut h, 0, &[Pass, Pass, Pass]);
        assert_eq!(h.state(), State::InService);
        let out = run(&mut h, 10_000, &[Fail, Fail, Pass, Pass]);
        assert_eq!(out.len(), 1);
        assert_eq!(
            (out[0].from, out[0].to, out[0].at_ms),
            (Reason::InService, Reason::FailedHealthChecks, 11_000)
        );
        assert!(out[0].state_changed());
        assert_eq!(h.state(), State::OutOfService, "two passes of three");
        let back = run(&mut h, 20_000, &[Pass]);
        assert_eq!(
            back.iter().map(|t| (t.from, t.to)).collect::<Vec<_>>(),
            vec![(Reason::FailedHealthChecks, Reason::InService)]
        );
        assert_eq!(h.since_ms(), 20_000);
    }

    #[test]
    fn thresholds_of_one_act_on_every_check() {
        let one = Thresholds {
            healthy: 1,
            unhealthy: 1,
        };
        let mut h = Health::registered(0);
        let mut states = Vec::new();
        for (i, c) in [Pass, Fail, Fail, Pass].into_iter().enumerate() {
            h.record(i as Millis, c, one);
            states.push(h.state());
        }
        use State::{InService as I, OutOfService as O};
        assert_eq!(states, vec![I, O, O, I]);
    }

    #[test]
    fn new_thresholds_apply_from_the_next_check() {
        let mut h = Health::registered(0);
        run(&mut h, 0, &[Pass, Pass]);
        let lower = Thresholds {
            healthy: 2,
            unhealthy: 2,
        };
        assert!(h.record(5000, Pass, lower).is_some());
        assert_eq!(h.consecutive_ok(), 3);
    }

    #[test]
    fn a_restored_instance_starts_in_service_with_its_passes() {
        let mut h = Health::restored(7, T);
        assert_eq!(
            (h.state(), h.consecutive_ok(), h.since_ms()),
            (State::InService, 3, 7)
        );
        assert_eq!(run(&mut h, 10, &[Fail]), vec![]);
        assert_eq!(run(&mut h, 20, &[Fail]).len(), 1);
    }

    #[test]
    fn deregistration_takes_it_out_and_later_checks_count_nothing() {
        let mut h = Health::registered(0);
        run(&mut h, 0, &[Pass, Pass, Pass]);
        let t = h.deregister(9000).expect("a change");
        assert_eq!(
            (t.from, t.to, t.at_ms),
            (Reason::InService, Reason::NotRegistered, 9000)
        );
        assert!(t.state_changed());
        assert_eq!(
            (h.state(), h.reason().code(), h.reason().verdict()),
            (State::OutOfService, ReasonCode::NotApplicable, None)
        );
        assert_eq!(run(&mut h, 10_000, &[Pass, Pass, Pass, Fail, Fail]), vec![]);
        assert_eq!((h.consecutive_ok(), h.consecutive_fail()), (3, 0));
        assert_eq!(h.deregister(11_000), None, "already deregistered");
        // A registration that never passed was OutOfService.
        let mut h = Health::registered(0);
        let t = h.deregister(1).unwrap();
        assert!(!t.state_changed());
    }

    #[test]
    fn reasons_serialize_as_aws_descriptions() {
        for r in Reason::ALL {
            let json = serde_json::to_string(&r).unwrap();
            assert_eq!(json, format!("\"{}\"", r.description()));
            assert_eq!(serde_json::from_str::<Reason>(&json).unwrap(), r);
            assert_eq!(r.to_string(), r.description());
        }
        assert!(serde_json::from_str::<Reason>("\"Instance is sad.\"").is_err());
        assert_eq!(
            serde_json::to_string(&State::OutOfService).unwrap(),
            "\"OutOfService\""
        );
    }

    #[test]
    fn health_check_timings_are_validated() {
        let hc = |interval: u64, timeout: u64, healthy: u32| HealthCheck {
            target: "TCP:80".into(),
            interval: Duration::from_millis(interval),
            timeout: Duration::from_millis(timeout),
            healthy_threshold: healthy,
            unhealthy_threshold: 2,
        };
        assert_eq!(hc(100, 50, 2).validate_timings(), Ok(()));
        assert_eq!(
            hc(0, 50, 2).validate_timings(),
            Err(HealthCheckError::ZeroTime)
        );
        assert_eq!(
            hc(100, 100, 2).validate_timings().unwrap_err().to_string(),
            "the timeout (100ms) must be less than the interval (100ms)"
        );
        assert_eq!(
            hc(100, 50, 0).validate_timings(),
            Err(HealthCheckError::ZeroThreshold)
        );
        assert_eq!(
            hc(100, 50, 4).thresholds(),
            Thresholds {
                healthy: 4,
                unhealthy: 2
            }
        );
    }
}
