//! Shared test support.
#![allow(dead_code)]
pub(crate) mod vectors;
