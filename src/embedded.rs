//! The shipped runbooks and inventory, built into the binary (see build.rs) so megacity works
//! from any directory after install. The catalog and the inventory both read them from here.

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
