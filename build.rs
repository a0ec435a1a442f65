// Embeds the shipped runbooks and the default inventory, so `megacity` works from any
// directory after `cargo install`.
use std::{env, fs, path::Path};

fn main() {
  let root = env::var("CARGO_MANIFEST_DIR").unwrap();
  let dir = Path::new(&root).join("runbooks");
  println!("cargo:rerun-if-changed={}", dir.display());
  println!("cargo:rerun-if-changed=inventory/default.yaml");
  let mut files: Vec<_> = fs::read_dir(&dir)
    .expect("runbooks/ directory")
    .filter_map(|e| e.ok().map(|e| e.path()))
    .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
    .collect();
  files.sort();
  let mut out = String::from("pub(crate) static RUNBOOKS: &[(&str, &str)] = &[\n");
  for path in &files {
    println!("cargo:rerun-if-changed={}", path.display());
    let id = path.file_stem().unwrap().to_str().unwrap();
    out.push_str(&format!(
      "  ({id:?}, include_str!({:?})),\n",
      path.display().to_string()
    ));
  }
  out.push_str("];\n");
  let inventory = Path::new(&root).join("inventory/default.yaml");
  out.push_str(&format!(
    "pub(crate) static INVENTORY: &str = include_str!({:?});\n",
    inventory.display().to_string()
  ));
  fs::write(
    Path::new(&env::var("OUT_DIR").unwrap()).join("embedded.rs"),
    out,
  )
  .unwrap();
}
