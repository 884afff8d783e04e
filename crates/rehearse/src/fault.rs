//! The faults a rehearsal injects, as `--fault` spells them, and how they go
//! into the model: timed ones (a crash, failing health checks, a lost
//! container instance) at a moment of the run, the others (an image that
//! cannot start, fails its health check, starts slowly) as the behaviour of
//! the tasks a revision starts.

use std::fmt;
use std::str::FromStr;

use chronous_core::ecs::Millis;
use serde::{Deserialize, Serialize};

use crate::model::{Behaviour, Fault, FaultKind, Model, Timings};

/// A fault to inject, as `--fault` spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum FaultSpec {
    /// `crash@90s`: a running task's essential container exits.
    Crash { at_ms: Millis },
    /// `failing-health@60s+300s`: a running task fails its health checks for a while.
    FailingHealthChecks { at_ms: Millis, duration_ms: Millis },
    /// `instance-lost@2m`: a container instance is lost (and replaced 3 min later).
    InstanceLost { at_ms: Millis },
    /// `bad-image`: the new image cannot start (CannotPullContainerError).
    BadImage,
    /// `unhealthy-image`: the new image starts but fails its health check.
    UnhealthyImage,
    /// `slow-start=4`: the new image takes 4 times as long to start.
    SlowStart { factor: u32 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fault `{input}`: {why} (use {FAULT_FORMS})")]
pub struct FaultParseError {
    pub input: String,
    pub why: String,
}

/// Every form `--fault` takes, for hints.
pub const FAULT_FORMS: &str = "crash@90s, failing-health@60s+300s, instance-lost@2m, bad-image, unhealthy-image or slow-start=4";

/// `90s`, `2m`, `1500ms`, `1h`, or plain seconds.
pub fn parse_duration_ms(s: &str) -> Option<Millis> {
    let s = s.trim();
    let (num, mul) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1_000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (s, 1_000)
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

impl FromStr for FaultSpec {
    type Err = FaultParseError;
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let err = |why: &str| FaultParseError {
            input: input.to_string(),
            why: why.to_string(),
        };
        let at = |rest: Option<&str>| -> Result<Millis, FaultParseError> {
            let r = rest.ok_or_else(|| err("it needs a time, as in crash@90s"))?;
            parse_duration_ms(r).ok_or_else(|| err(&format!("`{r}` is not a time")))
        };
        let (name, rest) = match input.split_once('@') {
            Some((n, r)) => (n, Some(r)),
            None => (input, None),
        };
        match name {
            "crash" => Ok(FaultSpec::Crash { at_ms: at(rest)? }),
            "instance-lost" => Ok(FaultSpec::InstanceLost { at_ms: at(rest)? }),
            "failing-health" | "unhealthy" => {
                let r = rest.ok_or_else(|| {
                    err("it needs a time and a duration, as in failing-health@60s+300s")
                })?;
                let (a, d) = r.split_once('+').unwrap_or((r, "300s"));
                Ok(FaultSpec::FailingHealthChecks {
                    at_ms: parse_duration_ms(a)
                        .ok_or_else(|| err(&format!("`{a}` is not a time")))?,
                    duration_ms: parse_duration_ms(d)
                        .ok_or_else(|| err(&format!("`{d}` is not a duration")))?,
                })
            }
            "bad-image" => Ok(FaultSpec::BadImage),
            "unhealthy-image" => Ok(FaultSpec::UnhealthyImage),
            _ => match input.split_once('=') {
                Some(("slow-start", f)) => Ok(FaultSpec::SlowStart {
                    factor: f
                        .parse()
                        .map_err(|_| err(&format!("`{f}` is not a whole factor")))?,
                }),
                _ => Err(err("unknown fault")),
            },
        }
    }
}

/// A time as a flag spells it: `2m`, `90s`, `1h`, `1500ms`.
pub fn fmt_flag_ms(ms: Millis) -> String {
    if ms == 0 {
        "0s".to_string()
    } else if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// The fault as `--fault` spells it.
impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultSpec::Crash { at_ms } => write!(f, "crash@{}", fmt_flag_ms(*at_ms)),
            FaultSpec::FailingHealthChecks { at_ms, duration_ms } => write!(
                f,
                "failing-health@{}+{}",
                fmt_flag_ms(*at_ms),
                fmt_flag_ms(*duration_ms)
            ),
            FaultSpec::InstanceLost { at_ms } => {
                write!(f, "instance-lost@{}", fmt_flag_ms(*at_ms))
            }
            FaultSpec::BadImage => f.write_str("bad-image"),
            FaultSpec::UnhealthyImage => f.write_str("unhealthy-image"),
            FaultSpec::SlowStart { factor } => write!(f, "slow-start={factor}"),
        }
    }
}

impl FaultSpec {
    /// When a timed fault happens (since the run started); none for a behaviour.
    pub fn at_ms(&self) -> Option<Millis> {
        match self {
            FaultSpec::Crash { at_ms }
            | FaultSpec::FailingHealthChecks { at_ms, .. }
            | FaultSpec::InstanceLost { at_ms } => Some(*at_ms),
            FaultSpec::BadImage | FaultSpec::UnhealthyImage | FaultSpec::SlowStart { .. } => None,
        }
    }

    /// When a timed fault has played out: a crash when it happens, failing
    /// health checks when they pass again, a lost instance when its
    /// replacement has registered.
    pub fn played_out_ms(&self, timings: &Timings) -> Option<Millis> {
        match self {
            FaultSpec::Crash { at_ms } => Some(*at_ms),
            FaultSpec::FailingHealthChecks { at_ms, duration_ms } => Some(at_ms + duration_ms),
            FaultSpec::InstanceLost { at_ms } => Some(at_ms + timings.instance_replace_ms),
            FaultSpec::BadImage | FaultSpec::UnhealthyImage | FaultSpec::SlowStart { .. } => None,
        }
    }
}

/// When the last of `faults` has played out (since the run started); 0 without timed faults.
pub fn played_out_ms(faults: &[FaultSpec], timings: &Timings) -> Millis {
    faults
        .iter()
        .filter_map(|f| f.played_out_ms(timings))
        .max()
        .unwrap_or(0)
}

/// Put `faults` into the model: timed ones at `t0` plus their time, the
/// others as the behaviour of the tasks of `task_definition` started from now on.
pub fn inject(m: &mut Model, faults: &[FaultSpec], t0: Millis, task_definition: &str) {
    for f in faults {
        let (at_ms, kind) = match f {
            FaultSpec::Crash { at_ms } => (*at_ms, FaultKind::TaskCrash { exit_code: 137 }),
            FaultSpec::FailingHealthChecks { at_ms, duration_ms } => (
                *at_ms,
                FaultKind::FailingHealthChecks {
                    duration_ms: *duration_ms,
                },
            ),
            FaultSpec::InstanceLost { at_ms } => (*at_ms, FaultKind::InstanceLost),
            FaultSpec::BadImage => {
                m.set_behaviour(task_definition, Behaviour::CannotStart);
                continue;
            }
            FaultSpec::UnhealthyImage => {
                m.set_behaviour(task_definition, Behaviour::FailsHealthCheck);
                continue;
            }
            FaultSpec::SlowStart { factor } => {
                m.set_behaviour(task_definition, Behaviour::SlowStart { factor: *factor });
                continue;
            }
        };
        m.inject(Fault {
            at_ms: t0 + at_ms,
            kind,
        });
    }
}
