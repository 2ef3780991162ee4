//! Network namespaces, veth links, NAT and the freeze, created by the lab
//! and always removed (`Drop`).
//!
//! Layout (addresses in 10.77.0.0/16, the same in every case: each case has
//! namespaces of its own, named `thawlab-<pid>-<case index>-{fn,mb,srv}`):
//!
//! ```text
//! direct:  fn 10.77.2.3 (f0) ──────────────────────────── (s0) 10.77.2.2 srv
//! NAT:     fn 10.77.1.2 (f0) ── (m0) 10.77.1.1 mb 10.77.2.1 (m1) ── (s0) 10.77.2.2 srv
//! ```
//!
//! The middlebox masquerades on m1 (conntrack + NAT); the server namespace
//! has no default route, so it can only answer the NAT's address.
use crate::cases::{Case, CtCfg, KernelCfg, PathKind};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The server's address in every case.
pub const SERVER_IP: &str = "10.77.2.2";

/// Runs a command; its stdout, or an error with its stderr.
pub fn run(cmd: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .map_err(|e| format!("{}: {e}", cmd.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}",
            cmd.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Runs a command with `input` on stdin.
pub fn run_stdin(cmd: &[&str], input: &str) -> Result<String, String> {
    let mut child = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", cmd.join(" ")))?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(input.as_bytes())
            .map_err(|e| format!("{}: {e}", cmd.join(" ")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", cmd.join(" ")))?;
    if !out.status.success() {
        return Err(format!(
            "`{}` failed ({}): {}\ninput:\n{input}",
            cmd.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// `cmd` run inside namespace `ns`.
pub fn ns_exec<'a>(ns: &'a str, cmd: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(cmd);
    v
}

/// Sets a sysctl in a namespace and checks that it took.
pub fn sysctl(ns: &str, key: &str, value: &str) -> Result<(), String> {
    let kv = format!("{key}={value}");
    run(&ns_exec(ns, &["sysctl", "-qw", &kv]))?;
    let got = run(&ns_exec(ns, &["sysctl", "-n", key]))?;
    if got.trim() != value {
        return Err(format!(
            "sysctl {key} in {ns}: wrote {value}, reads {}",
            got.trim()
        ));
    }
    Ok(())
}

/// The namespaces of one case.
pub struct Topology {
    /// Function namespace.
    pub fn_ns: String,
    /// Middlebox namespace (NAT paths).
    pub mb_ns: Option<String>,
    /// Server namespace.
    pub srv_ns: String,
    created: Vec<String>,
    etc_dirs: Vec<PathBuf>,
}

/// The nftables table of the freeze, in the function namespace.
const FREEZE_TABLE: &str = "table inet thawlab_freeze {
  chain input { type filter hook input priority -300; policy accept; }
  chain output { type filter hook output priority -300; policy accept; }
}
";

fn nat_table(drop_invalid: bool) -> String {
    let rule = if drop_invalid {
        "ct state invalid drop;"
    } else {
        ""
    };
    format!(
        "table ip thawlab_nat {{
  chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; oifname \"m1\" masquerade; }}
  chain forward {{ type filter hook forward priority filter; policy accept; {rule} }}
  chain input {{ type filter hook input priority filter; policy accept; {rule} }}
}}
"
    )
}

impl Topology {
    /// Namespace prefix of this process.
    pub fn prefix() -> String {
        format!("thawlab-{}", std::process::id())
    }

    /// Creates the namespaces of `case` (number `index` of this run).
    pub fn create(case: &Case, index: usize) -> Result<Topology, String> {
        let base = format!("{}-{index}", Self::prefix());
        let mut t = Topology {
            fn_ns: format!("{base}-fn"),
            mb_ns: case.path.nat().then(|| format!("{base}-mb")),
            srv_ns: format!("{base}-srv"),
            created: Vec::new(),
            etc_dirs: Vec::new(),
        };
        // /etc/netns/<srv>/hosts: `ip netns exec` bind-mounts it over
        // /etc/hosts, so MariaDB can resolve the client's address (its host
        // cache, and so max_connect_errors, needs a resolved host name), and
        // an empty resolv.conf keeps it from asking an unreachable DNS server.
        let etc = PathBuf::from("/etc/netns").join(&t.srv_ns);
        std::fs::create_dir_all(&etc).map_err(|e| format!("{}: {e}", etc.display()))?;
        t.etc_dirs.push(etc.clone());
        std::fs::write(
            etc.join("hosts"),
            "127.0.0.1 localhost\n10.77.2.1 thawlab-nat\n10.77.2.3 thawlab-fn\n10.77.2.2 thawlab-srv\n",
        )
        .map_err(|e| format!("hosts: {e}"))?;
        std::fs::write(etc.join("resolv.conf"), "").map_err(|e| format!("resolv.conf: {e}"))?;

        let names: Vec<String> = [
            Some(t.fn_ns.clone()),
            t.mb_ns.clone(),
            Some(t.srv_ns.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();
        for ns in &names {
            run(&["ip", "netns", "add", ns])?;
            t.created.push(ns.clone());
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        let (fns, srv) = (t.fn_ns.clone(), t.srv_ns.clone());
        match &t.mb_ns {
            None => {
                run(&[
                    "ip", "-n", &fns, "link", "add", "f0", "type", "veth", "peer", "name", "s0",
                    "netns", &srv,
                ])?;
                run(&["ip", "-n", &fns, "addr", "add", "10.77.2.3/24", "dev", "f0"])?;
                run(&["ip", "-n", &srv, "addr", "add", "10.77.2.2/24", "dev", "s0"])?;
                run(&["ip", "-n", &fns, "link", "set", "f0", "up"])?;
                run(&["ip", "-n", &srv, "link", "set", "s0", "up"])?;
            }
            Some(mb) => {
                run(&[
                    "ip", "-n", &fns, "link", "add", "f0", "type", "veth", "peer", "name", "m0",
                    "netns", mb,
                ])?;
                run(&[
                    "ip", "-n", mb, "link", "add", "m1", "type", "veth", "peer", "name", "s0",
                    "netns", &srv,
                ])?;
                run(&["ip", "-n", &fns, "addr", "add", "10.77.1.2/24", "dev", "f0"])?;
                run(&["ip", "-n", mb, "addr", "add", "10.77.1.1/24", "dev", "m0"])?;
                run(&["ip", "-n", mb, "addr", "add", "10.77.2.1/24", "dev", "m1"])?;
                run(&["ip", "-n", &srv, "addr", "add", "10.77.2.2/24", "dev", "s0"])?;
                for (ns, dev) in [(&fns, "f0"), (mb, "m0"), (mb, "m1"), (&srv, "s0")] {
                    run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
                }
                run(&[
                    "ip",
                    "-n",
                    &fns,
                    "route",
                    "add",
                    "default",
                    "via",
                    "10.77.1.1",
                ])?;
                sysctl(mb, "net.ipv4.ip_forward", "1")?;
                run_stdin(
                    &ns_exec(mb, &["nft", "-f", "-"]),
                    &nat_table(case.path == PathKind::NatDrop),
                )?;
                Self::conntrack_sysctls(mb, &case.ct, case.path == PathKind::NatAccept)?;
            }
        }
        run_stdin(&ns_exec(&fns, &["nft", "-f", "-"]), FREEZE_TABLE)?;
        Self::kernel_sysctls(&srv, &case.srv_tcp)?;
        Ok(t)
    }

    fn kernel_sysctls(ns: &str, k: &KernelCfg) -> Result<(), String> {
        sysctl(
            ns,
            "net.ipv4.tcp_orphan_retries",
            &k.orphan_retries.to_string(),
        )?;
        sysctl(ns, "net.ipv4.tcp_fin_timeout", &k.fin_timeout_s.to_string())?;
        Ok(())
    }

    fn conntrack_sysctls(ns: &str, ct: &CtCfg, loose: bool) -> Result<(), String> {
        // Per network namespace on this kernel (checked by writing in a
        // fresh namespace and reading the initial namespace's value).
        sysctl(
            ns,
            "net.netfilter.nf_conntrack_tcp_loose",
            if loose { "1" } else { "0" },
        )?;
        for (suffix, _, v) in ct.entries() {
            sysctl(
                ns,
                &format!("net.netfilter.nf_conntrack_tcp_timeout_{suffix}"),
                &v.to_string(),
            )?;
        }
        Ok(())
    }

    /// Drops every packet in and out of the function namespace.
    pub fn freeze(&self) -> Result<(), String> {
        run(&ns_exec(
            &self.fn_ns,
            &[
                "nft",
                "add rule inet thawlab_freeze input drop; add rule inet thawlab_freeze output drop",
            ],
        ))
        .map(|_| ())
    }

    /// Removes the drop rules.
    pub fn thaw(&self) -> Result<(), String> {
        run(&ns_exec(
            &self.fn_ns,
            &[
                "nft",
                "flush chain inet thawlab_freeze input; flush chain inet thawlab_freeze output",
            ],
        ))
        .map(|_| ())
    }

    /// `nstat -asz` counters of a namespace.
    pub fn nstat(ns: &str) -> Vec<(String, u64)> {
        run(&ns_exec(ns, &["nstat", "-asz"]))
            .map(|t| crate::observe::parse_nstat(&t))
            .unwrap_or_default()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            let _ = run(&["ip", "netns", "del", &ns]);
        }
        for d in self.etc_dirs.drain(..) {
            let _ = std::fs::remove_dir_all(&d);
        }
    }
}

/// Removes namespaces (and /etc/netns entries) and work directories left by
/// earlier lab runs whose process is gone (killed before its guards ran).
pub fn remove_stale() -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(list) = run(&["ip", "netns", "list"]) else {
        return removed;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("thawlab-") else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run(&["ip", "netns", "del", name]);
            let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(name));
            removed.push(name.to_string());
        }
    }
    // Work directories of dead runs.
    if let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let Some(pid) = name.strip_prefix("thawlab-") else {
                continue;
            };
            if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
                removed.push(e.path().display().to_string());
            }
        }
    }
    removed
}
