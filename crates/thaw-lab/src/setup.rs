//! `thaw-lab setup`: installs what the lab needs with apt-get, without
//! starting any system service.
use crate::netns::run;
use std::path::Path;
use std::process::Command;

/// The Debian packages the lab uses.
pub const PACKAGES: &[&str] = &[
    "iproute2",
    "nftables",
    "conntrack",
    "util-linux",
    "redis-server",
    "mariadb-server",
    "postgresql",
];

fn installed(pkg: &str) -> bool {
    run(&["dpkg-query", "-W", "-f=${Status}", pkg])
        .map(|s| s.contains("install ok installed"))
        .unwrap_or(false)
}

/// Installs the missing packages; returns the exit code.
pub fn main() -> i32 {
    if !crate::is_root() {
        eprintln!("thaw-lab setup needs root (apt-get install)");
        return 2;
    }
    let missing: Vec<&str> = PACKAGES.iter().copied().filter(|p| !installed(p)).collect();
    for p in PACKAGES {
        if !missing.contains(p) {
            println!("already installed: {p}");
        }
    }
    if missing.is_empty() {
        println!("nothing to do");
        return 0;
    }
    // Debian's maintainer scripts start services through invoke-rc.d, which
    // asks /usr/sbin/policy-rc.d first: exit status 101 forbids it. The lab
    // starts its own server processes per case.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let made_policy = !policy.exists();
    if made_policy {
        if let Err(e) = std::fs::write(
            policy,
            "#!/bin/sh\n# thaw-lab setup: do not start services\nexit 101\n",
        ) {
            eprintln!("cannot write {}: {e}", policy.display());
            return 1;
        }
        let _ = run(&["chmod", "755", "/usr/sbin/policy-rc.d"]);
        println!("wrote /usr/sbin/policy-rc.d (exit 101) so that no service is started");
    }
    println!("apt-get update");
    let update = Command::new("apt-get").arg("update").status();
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    println!("apt-get {}", args.join(" "));
    let status = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status();
    if made_policy {
        let _ = std::fs::remove_file(policy);
        println!("removed /usr/sbin/policy-rc.d");
    }
    match (update, status) {
        (_, Ok(s)) if s.success() => {
            println!("installed: {}", missing.join(" "));
            0
        }
        (_, r) => {
            eprintln!("apt-get install failed: {r:?}");
            1
        }
    }
}
