//! The composition root: reads configuration, opens storage, wires adapters
//! into the use cases and starts the HTTP server. The only crate that knows
//! every other.

pub mod config;
pub mod devtools;
pub mod memory;
pub mod seed;
pub mod startup;
pub mod storage;

pub use config::Config;
pub use startup::Application;
