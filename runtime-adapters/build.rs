//! Declares the `loom` cfg, under which the shared state runs on loom's primitives.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(loom)");
}
