//! Black-box tests of the HTTP API: each test spawns the real application on a
//! random port with a fresh database and talks to it over TCP.
//!
//! The backend is SQLite unless `TEST_API_DATABASE_URL` names another server
//! (the test script runs this suite against Postgres and MongoDB too).

#![allow(clippy::unwrap_used)] // a panic is how a test reports a failure

mod auth;
mod booking;
mod catalog;
mod cli;
mod etags;
mod faults;
mod guards;
mod health;
mod helpers;
mod idempotency;
mod input;
mod limits;
mod mail;
mod openapi;
mod ops;
mod orders;
mod outbox;
mod rate_limits;
mod security;
mod smtp;
mod users;
mod web;
