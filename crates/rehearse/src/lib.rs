//! The modelled runtime and the rehearsal of chronous, with no I/O.
//!
//! [`model`] runs container instances, tasks and a classic ELB on a virtual
//! clock with seeded faults, driving core's ECS scheduler; [`rehearse`] runs
//! `rehearse deploy` over it and renders the result (text, JSON, SVG). Nothing
//! here touches files, the network, Docker or a clock: the environment, the
//! settings and a seed come in, and the same inputs give the same rehearsal.
//! The simulator's real-container runtime (`chronous-sim`) drives the same
//! scheduler, so what a rehearsal predicts and what the simulator does come
//! from the same code.

pub mod model;
pub mod rehearse;
