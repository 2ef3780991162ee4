//! `thaw-lab defaults`: thaw's defaults against what this machine's kernel
//! and servers use when nobody configures them.
//!
//! The kernel's values are read in a network namespace made for the
//! purpose (every TCP and conntrack sysctl read here is per namespace, and
//! a fresh namespace holds the kernel's built-in defaults, not the host's
//! tuning); the servers' from the servers themselves, started with no
//! configuration file: `mariadbd --no-defaults --verbose --help`,
//! `postgres -C` on a fresh `initdb` directory, and `CONFIG GET` on a `redis-server`
//! started without a configuration file on a Unix socket.
use crate::netns::{ns_exec, run, run_stdin};
use crate::servers::{as_postgres, Workdir, PG_BIN};
use std::fmt::Write as _;
use std::time::Duration;
use thaw_net::{MiddleboxPreset, TcpConfig};
use thaw_sim::{ServerConfig, ServerKind};

/// One compared value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    /// Where the value comes from on this machine.
    pub name: String,
    /// What this machine says (`None`: could not be read).
    pub machine: Option<String>,
    /// thaw's default.
    pub thaw: String,
    /// Why thaw's default differs from this machine's on purpose, if it
    /// does (the row is then not counted as a difference).
    pub chosen: Option<&'static str>,
}

/// Values where thaw's default follows another kernel or server version
/// than a current one, and why.
const CHOSEN: &[(&str, &str)] = &[(
    "net.ipv4.tcp_syn_linear_timeouts",
    "by choice: Linux 6.5 and later default to 4 (absent before 6.5); thaw \
     models the older kernels, as AWS does not say which kernel Lambda runs \
     (`tcp.syn_linear_timeouts`)",
)];

impl Row {
    fn new(name: &str, machine: Option<String>, thaw: impl ToString) -> Row {
        Row {
            name: name.to_string(),
            machine: machine.map(|s| s.split_whitespace().collect::<Vec<_>>().join(" ")),
            thaw: thaw.to_string(),
            chosen: CHOSEN.iter().find(|(k, _)| *k == name).map(|(_, why)| *why),
        }
    }

    /// The values differ and nothing on record says why.
    pub fn unexplained(&self) -> bool {
        !self.agrees() && self.chosen.is_none()
    }

    /// The machine's value equals thaw's.
    pub fn agrees(&self) -> bool {
        self.machine.as_deref() == Some(self.thaw.as_str())
    }
}

fn secs(d: thaw_core::SimDuration) -> String {
    (d.as_nanos() / 1_000_000_000).to_string()
}

/// The kernel rows: `(sysctl, thaw's default)`.
fn kernel_expected() -> Vec<(&'static str, String)> {
    let t = TcpConfig::default();
    let ka = thaw_net::Keepalive::default();
    let ct = MiddleboxPreset::LinuxConntrack.config();
    let to = ct.timeouts;
    vec![
        ("net.ipv4.tcp_retries2", t.retries2.to_string()),
        ("net.ipv4.tcp_orphan_retries", t.orphan_retries.to_string()),
        ("net.ipv4.tcp_syn_retries", t.syn_retries.to_string()),
        (
            "net.ipv4.tcp_syn_linear_timeouts",
            t.syn_linear_timeouts.to_string(),
        ),
        ("net.ipv4.tcp_synack_retries", t.synack_retries.to_string()),
        ("net.ipv4.tcp_fin_timeout", secs(t.fin_timeout)),
        ("net.ipv4.tcp_keepalive_time", secs(ka.idle)),
        ("net.ipv4.tcp_keepalive_intvl", secs(ka.interval)),
        ("net.ipv4.tcp_keepalive_probes", ka.count.to_string()),
        (
            "net.ipv4.tcp_early_retrans",
            if t.tail_loss_probe { "3" } else { "0" }.to_string(),
        ),
        (
            "net.ipv4.tcp_retrans_collapse",
            u8::from(t.retrans_collapse).to_string(),
        ),
        ("net.ipv4.ip_local_port_range", "32768 60999".to_string()),
        ("net.netfilter.nf_conntrack_tcp_loose", "1".to_string()),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_syn_sent",
            secs(to.syn_sent),
        ),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_syn_recv",
            secs(to.syn_recv),
        ),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_established",
            secs(to.established),
        ),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_fin_wait",
            secs(to.fin_wait),
        ),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_close_wait",
            secs(to.close_wait),
        ),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_last_ack",
            secs(to.last_ack),
        ),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_time_wait",
            secs(to.time_wait),
        ),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_close",
            secs(to.close),
        ),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_max_retrans",
            ct.max_retrans.map(secs).unwrap_or_default(),
        ),
        (
            "net.netfilter.nf_conntrack_tcp_timeout_unacknowledged",
            ct.unacknowledged.map(secs).unwrap_or_default(),
        ),
    ]
}

/// Reads the kernel rows in a fresh namespace, which it removes again.
fn kernel_rows() -> Vec<Row> {
    let ns = format!("{}-defaults", crate::netns::Topology::prefix());
    let _ = run(&["ip", "netns", "add", &ns]);
    // A conntrack rule loads nf_conntrack, whose sysctls appear per
    // namespace only then.
    let _ = run_stdin(
        &ns_exec(&ns, &["nft", "-f", "-"]),
        "table ip thawlab {\n chain in {\n  type filter hook input priority 0;\n  ct state established accept\n }\n}\n",
    );
    let mut rows: Vec<Row> = kernel_expected()
        .into_iter()
        .map(|(key, thaw)| {
            let v = run(&ns_exec(&ns, &["sysctl", "-n", key])).ok();
            Row::new(key, v, thaw)
        })
        .collect();
    let _ = run(&["ip", "netns", "del", &ns]);
    // CONFIG_HZ, from the running kernel's configuration when it exposes it.
    let hz = run(&[
        "sh",
        "-c",
        "zcat /proc/config.gz 2>/dev/null | sed -n 's/^CONFIG_HZ=//p'",
    ])
    .ok()
    .filter(|v| !v.trim().is_empty());
    let thaw_hz = TcpConfig::default().hz.unwrap_or(0);
    rows.insert(0, Row::new("CONFIG_HZ (/proc/config.gz)", hz, thaw_hz));
    rows
}

fn mariadb_rows() -> Vec<Row> {
    let help = run(&["mariadbd", "--no-defaults", "--verbose", "--help"]).unwrap_or_default();
    let var = |name: &str| {
        help.lines().find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(name)).then(|| it.next().unwrap_or("").to_string())
        })
    };
    let m = ServerConfig::preset(ServerKind::Mariadb);
    vec![
        Row::new(
            "mariadbd wait-timeout",
            var("wait-timeout"),
            m.idle_timeout.map(secs).unwrap_or_default(),
        ),
        Row::new(
            "mariadbd max-connections",
            var("max-connections"),
            m.max_connections,
        ),
        Row::new("mariadbd back-log", var("back-log"), m.backlog),
        Row::new(
            "mariadbd max-connect-errors",
            var("max-connect-errors"),
            m.max_connect_errors,
        ),
        Row::new(
            "mariadbd connect-timeout",
            var("connect-timeout"),
            m.handshake_timeout.map(secs).unwrap_or_default(),
        ),
    ]
}

fn postgres_rows() -> Vec<Row> {
    // `postgres -C NAME` prints a parameter's value as the server would
    // run with the data directory initdb made (initdb writes
    // max_connections into postgresql.conf after probing; the others are
    // the built-in defaults). `--describe-config` cannot serve: it prints
    // uninitialised values.
    let dir = Workdir::create().and_then(|mut w| w.pg_template().map(|t| (w, t)));
    let var = |name: &str| {
        let (_, t) = dir.as_ref().ok()?;
        let cmd = as_postgres(&[
            &format!("{PG_BIN}/postgres"),
            "-D",
            &t.to_string_lossy(),
            "-C",
            name,
        ]);
        run(&cmd.iter().map(String::as_str).collect::<Vec<_>>())
            .ok()
            .map(|v| v.trim().to_string())
    };
    let p = ServerConfig::preset(ServerKind::Postgres);
    let ms = |d: Option<thaw_core::SimDuration>| {
        d.map(|d| (d.as_nanos() / 1_000_000).to_string())
            .unwrap_or_else(|| "0".to_string())
    };
    vec![
        Row::new(
            "postgres max_connections",
            var("max_connections"),
            p.max_connections,
        ),
        Row::new(
            "postgres superuser_reserved_connections",
            var("superuser_reserved_connections"),
            p.reserved_connections,
        ),
        Row::new(
            "postgres idle_session_timeout (ms)",
            var("idle_session_timeout"),
            ms(p.idle_timeout),
        ),
        Row::new(
            "postgres idle_in_transaction_session_timeout (ms)",
            var("idle_in_transaction_session_timeout"),
            ms(p.idle_in_transaction_timeout),
        ),
    ]
}

fn redis_rows() -> Vec<Row> {
    let r = ServerConfig::preset(ServerKind::Redis);
    let Ok(dir) = Workdir::create() else {
        return Vec::new();
    };
    let sock = dir.root.join("defaults.sock");
    let sock_s = sock.to_string_lossy().to_string();
    // No configuration file: the built-in defaults (Debian's
    // /etc/redis/redis.conf would change some of them).
    let child = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--unixsocket",
            &sock_s,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir.root.to_string_lossy(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return Vec::new();
    };
    for _ in 0..100 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let get = |key: &str| {
        run(&["redis-cli", "-s", &sock_s, "--raw", "CONFIG", "GET", key])
            .ok()
            .and_then(|o| o.lines().nth(1).map(str::to_string))
    };
    let ka = r.tcp.keepalive.map(|k| secs(k.idle)).unwrap_or_default();
    let rows = vec![
        Row::new("redis maxclients", get("maxclients"), r.max_connections),
        Row::new(
            "redis timeout",
            get("timeout"),
            r.idle_timeout.map(secs).unwrap_or_else(|| "0".to_string()),
        ),
        Row::new("redis tcp-keepalive", get("tcp-keepalive"), ka),
        Row::new("redis tcp-backlog", get("tcp-backlog"), r.backlog),
    ];
    let _ = child.kill();
    let _ = child.wait();
    rows
}

/// Every row, kernel first.
pub fn collect() -> Vec<Row> {
    let mut rows = kernel_rows();
    rows.extend(mariadb_rows());
    rows.extend(postgres_rows());
    rows.extend(redis_rows());
    rows
}

/// The rows as a markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from("| value | this machine | thaw's default | |\n|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} |",
            r.name,
            r.machine.as_deref().unwrap_or("(not readable)"),
            r.thaw,
            match (r.agrees(), r.chosen) {
                (true, _) => "same".to_string(),
                (false, Some(why)) => format!("differs {why}"),
                (false, None) => "**differs**".to_string(),
            }
        );
    }
    s
}

/// `thaw-lab defaults`: prints the table; exit 0 when every value agrees.
pub fn main() -> i32 {
    if !crate::is_root() {
        eprintln!("thaw-lab defaults needs root (network namespaces)");
        return 2;
    }
    let rows = collect();
    print!("{}", markdown(&rows));
    let bad = rows.iter().filter(|r| r.unexplained()).count();
    let chosen = rows
        .iter()
        .filter(|r| !r.agrees() && !r.unexplained())
        .count();
    println!(
        "\n{} values: {} the same, {chosen} differ by choice, {bad} differ",
        rows.len(),
        rows.len() - bad - chosen
    );
    i32::from(bad > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_compare_whitespace_normalised() {
        let r = Row::new("x", Some("32768\t60999\n".to_string()), "32768 60999");
        assert!(r.agrees());
        assert!(!Row::new("x", None, "1").agrees());
        assert!(!Row::new("x", Some("2".into()), "1").agrees());
        assert!(Row::new("x", Some("2".into()), "1").unexplained());
        let linear = Row::new("net.ipv4.tcp_syn_linear_timeouts", Some("4".into()), "0");
        assert!(!linear.agrees() && !linear.unexplained());
        assert!(markdown(&[linear]).contains("differs by choice"));
    }

    #[test]
    fn kernel_expectations_are_thaws_defaults() {
        let k = kernel_expected();
        let get = |n: &str| k.iter().find(|(x, _)| *x == n).map(|(_, v)| v.as_str());
        assert_eq!(get("net.ipv4.tcp_retries2"), Some("15"));
        assert_eq!(get("net.ipv4.tcp_retrans_collapse"), Some("1"));
        assert_eq!(
            get("net.netfilter.nf_conntrack_tcp_timeout_established"),
            Some("432000")
        );
        assert!(markdown(&[Row::new("a", None, "1")]).contains("**differs**"));
    }
}
