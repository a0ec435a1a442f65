//! Integration tests: each drives the real `megacity` binary.

mod alerts;
mod catalog;
mod completions;
mod drill;
mod drill_db;
mod drill_edge;
mod drill_failover;
mod drill_gpu;
mod drill_net;
mod drill_redis;
mod drill_site;
mod drill_traffic;
mod fleet;
mod format;
mod healthy;
mod journal;
mod learned;
mod notify;
mod prometheus;
mod prompts;
mod run;
mod sshd;
mod stock;
mod test;
mod validate;
