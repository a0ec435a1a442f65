//! Integration tests: each drives the real `megacity` binary.

mod catalog;
mod completions;
mod test;
mod validate;
