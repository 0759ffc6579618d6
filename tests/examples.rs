//! The shipped examples stay true: `examples/demo.toml` is exactly the configuration the
//! sandbox writes for the demo world (seed 1, the demo's fixed ports) and it loads next to the
//! world's CA files; `examples/vietnam.toml` loads.

use dvc_audit::config::Config;
use dvc_audit::sandbox::{self, Ports, ServeOptions, Size, World};

const DEMO: &str = include_str!("../examples/demo.toml");

#[test]
fn demo_example_is_what_the_sandbox_writes() {
    let generated = sandbox::config_toml(
        &World::new(Size::Demo, 1),
        Ports {
            https: dvc_audit::run::demo::DEMO_HTTPS_PORT,
            http: dvc_audit::run::demo::DEMO_HTTP_PORT,
        },
    );
    assert!(
        DEMO == generated,
        "examples/demo.toml is stale: regenerate it with\n  dvc-audit sandbox serve --size demo --seed 1 --https-port 18443 --http-port 18080 --out <dir>\nand copy <dir>/audit.toml"
    );
}

#[tokio::test]
async fn demo_example_loads_beside_the_world_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = sandbox::serve(
        World::new(Size::Tiny, 1),
        ServeOptions {
            out_dir: Some(dir.path().to_path_buf()),
            ..ServeOptions::default()
        },
    )
    .await
    .expect("serve");
    std::fs::write(dir.path().join("audit.toml"), DEMO).expect("write");
    let loaded = Config::load(&dir.path().join("audit.toml")).expect("demo.toml loads");
    assert_eq!(loaded.config.agencies.len(), 12);
    assert!(
        loaded
            .config
            .agencies
            .iter()
            .any(|a| !a.successor.is_empty())
    );
    handle.shutdown().await;
}

#[test]
fn vietnam_example_loads_and_marks_hosts_unverified() {
    let loaded = Config::load(std::path::Path::new("examples/vietnam.toml")).expect("loads");
    let c = &loaded.config;
    assert_eq!(c.agencies.len(), 15);
    assert!(c.agencies.iter().all(|a| !a.verified));
    for (old, new) in [
        ("bgtvt", "bxd"),
        ("backan", "thainguyen"),
        ("quangnam", "danang"),
        ("binhduong", "hcm"),
        ("binhphuoc", "dongnai"),
    ] {
        let a = c.agencies.iter().find(|a| a.id == old).expect(old);
        assert_eq!(a.successor, new);
    }
}
