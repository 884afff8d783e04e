//! The modelled runtime and the rehearsal of chronous, with no I/O.
//!
//! [`model`] runs container instances, tasks and a classic ELB on a virtual
//! clock with seeded faults, driving core's ECS scheduler; [`rehearse`] runs
//! `rehearse deploy` over it, [`incident`] `rehearse incident` (faults with no
//! deployment), and both render the result the same way (text, JSON, SVG). Nothing
//! here touches files, the network, Docker or a clock: the environment, the
//! settings and a seed come in, and the same inputs give the same rehearsal.
//! The simulator's real-container runtime (`chronous-sim`) drives the same
//! scheduler, so what a rehearsal predicts and what the simulator does come
//! from the same code.

pub mod fault;
pub mod incident;
pub mod model;
pub mod rehearse;
mod render;
mod trace;
