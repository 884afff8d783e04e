//! The environment file (being split into raw input, model, facts and validation).

mod model;

pub use model::*;
