//! chronous-core: the pure heart of chronous.
//!
//! No I/O, no async runtime, no clock. Everything here is plain data and
//! functions over it: the environment model and its validation ([`env`]),
//! the resource graph ([`graph`]), the planner ([`plan`]), the state format
//! ([`state`]), the [`provider::Provider`] seam and the apply walker
//! ([`engine`]) which is generic over a provider and a durable journal sink;
//! [`secret`] says where a secret comes from without ever holding it in a spec.
//! The runtime's state machines live here too, so that the simulator and the
//! rehearsal share them: the ECS service scheduler ([`ecs`]) and the classic
//! ELB's health checks ([`elb_health`]). The review of a file (lints, cost
//! estimate) is [`review`].

pub mod diag;
pub mod diagram;
pub mod ecs;
pub mod elb_health;
pub mod engine;
pub mod env;
pub mod graph;
pub mod import;
pub mod plan;
pub mod provider;
pub mod reach;
pub mod resources;
pub mod review;
pub mod secret;
pub mod state;
pub mod value;

pub use diag::{Diagnostic, Diagnostics};
