//! The real servers: one process per case, in the server namespace, bound to
//! its address, with a data directory of its own; stopped after the case
//! (`Drop`). No system service is started.
use crate::cases::{Case, ServerKind};
use crate::netns::{run, run_stdin, SERVER_IP};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// PostgreSQL 15's binaries.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// `cmd` run as the `postgres` user (initdb and postgres refuse root).
pub fn as_postgres(cmd: &[&str]) -> Vec<String> {
    [
        "setpriv",
        "--reuid=postgres",
        "--regid=postgres",
        "--init-groups",
    ]
    .iter()
    .chain(cmd)
    .map(|x| x.to_string())
    .collect()
}

/// Runs `cmd` as the `postgres` user.
fn run_as_postgres(cmd: &[&str]) -> Result<String, String> {
    let a = as_postgres(cmd);
    run(&a.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The run's temporary directory and the data-directory templates made once
/// per run.
pub struct Workdir {
    /// `/tmp/thawlab-<pid>`.
    pub root: PathBuf,
    pg_template: Option<PathBuf>,
    maria_template: Option<PathBuf>,
}

impl Workdir {
    /// Creates the directory.
    pub fn create() -> Result<Workdir, String> {
        let root = std::env::temp_dir().join(format!("thawlab-{}", std::process::id()));
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        run(&["chmod", "755", &root.to_string_lossy()])?;
        Ok(Workdir {
            root,
            pg_template: None,
            maria_template: None,
        })
    }

    /// A data directory made by `initdb` (once per run), with the lab's
    /// role and access rule.
    pub fn pg_template(&mut self) -> Result<PathBuf, String> {
        if let Some(t) = &self.pg_template {
            return Ok(t.clone());
        }
        let t = self.root.join("pg-template");
        std::fs::create_dir_all(&t).map_err(|e| e.to_string())?;
        let ts = t.to_string_lossy().to_string();
        run(&["chown", "postgres:postgres", &ts])?;
        run(&["chmod", "700", &ts])?;
        let initdb = format!("{PG_BIN}/initdb");
        run_as_postgres(&[
            &initdb,
            "-D",
            &ts,
            "--auth=trust",
            "-U",
            "postgres",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C",
        ])?;
        // The lab's role: an ordinary user (no reserved slots), trust from
        // the lab's addresses.
        let hba = t.join("pg_hba.conf");
        let mut text = std::fs::read_to_string(&hba).map_err(|e| e.to_string())?;
        text.push_str("host all all 10.77.0.0/16 trust\n");
        std::fs::write(&hba, text).map_err(|e| e.to_string())?;
        let postgres = format!("{PG_BIN}/postgres");
        let single = as_postgres(&[&postgres, "--single", "-D", &ts, "postgres"]);
        run_stdin(
            &single.iter().map(String::as_str).collect::<Vec<_>>(),
            "CREATE ROLE lab LOGIN;\n",
        )?;
        self.pg_template = Some(t.clone());
        Ok(t)
    }

    fn maria_template(&mut self) -> Result<PathBuf, String> {
        if let Some(t) = &self.maria_template {
            return Ok(t.clone());
        }
        let t = self.root.join("maria-template");
        std::fs::create_dir_all(&t).map_err(|e| e.to_string())?;
        let ts = t.to_string_lossy().to_string();
        run(&["chown", "mysql:mysql", &ts])?;
        let dd = format!("--datadir={ts}");
        run(&[
            "mariadb-install-db",
            "--no-defaults",
            &dd,
            "--user=mysql",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            "--innodb-log-file-size=4M",
            "--innodb-buffer-pool-size=16M",
        ])?;
        // The lab's user `lab`@`%`, no password, no privileges (so no
        // SUPER: max_connections applies to it).
        run_stdin(
            &[
                "mariadbd", "--no-defaults", "--bootstrap", &dd, "--user=mysql", "--innodb-log-file-size=4M",
                "--innodb-buffer-pool-size=16M",
            ],
            "INSERT INTO mysql.global_priv (Host,User,Priv) VALUES ('%','lab','{\"access\":0,\"plugin\":\"mysql_native_password\",\"authentication_string\":\"\"}');\n",
        )?;
        self.maria_template = Some(t.clone());
        Ok(t)
    }
}

impl Drop for Workdir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// A running server.
pub struct ServerProc {
    child: Option<Child>,
    stop_signal: &'static str,
    /// Its log.
    pub log: PathBuf,
}

fn copy_template(tpl: &Path, dir: &Path) -> Result<(), String> {
    run(&["cp", "-a", &tpl.to_string_lossy(), &dir.to_string_lossy()]).map(|_| ())
}

impl ServerProc {
    /// Starts the server of `case` in `srv_ns` and waits until it accepts
    /// connections.
    pub fn start(
        case: &Case,
        index: usize,
        srv_ns: &str,
        work: &mut Workdir,
    ) -> Result<ServerProc, String> {
        let dir = work.root.join(format!("case-{index}-{}", case.name));
        let s = &case.srv;
        let (args, log, stop, ready): (Vec<String>, PathBuf, &'static str, &'static str) =
            match case.server {
                ServerKind::Redis => {
                    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                    let log = dir.join("redis.log");
                    let a = vec![
                        "redis-server".to_string(),
                        "--bind".into(),
                        SERVER_IP.into(),
                        "--port".into(),
                        "6379".into(),
                        "--timeout".into(),
                        (s.idle_timeout_ms / 1000).to_string(),
                        "--tcp-keepalive".into(),
                        s.redis_keepalive_s.to_string(),
                        "--save".into(),
                        "".into(),
                        "--appendonly".into(),
                        "no".into(),
                        "--protected-mode".into(),
                        "no".into(),
                        "--daemonize".into(),
                        "no".into(),
                        // clientsCron every 10 ms instead of 100 ms, so that
                        // the cron's period does not blur the measurement of
                        // the idle close (see docs/calibration.md).
                        "--hz".into(),
                        "100".into(),
                        "--dir".into(),
                        dir.to_string_lossy().to_string(),
                        "--logfile".into(),
                        log.to_string_lossy().to_string(),
                    ];
                    (a, log, "-TERM", "Ready to accept connections")
                }
                ServerKind::Postgres => {
                    let tpl = work.pg_template()?;
                    copy_template(&tpl, &dir)?;
                    let log = dir.join("postgres.log");
                    let mut a =
                        as_postgres(&[&format!("{PG_BIN}/postgres"), "-D", &dir.to_string_lossy()]);
                    for (k, v) in [
                        ("listen_addresses", SERVER_IP.to_string()),
                        ("port", "5432".into()),
                        ("unix_socket_directories", "".into()),
                        ("max_connections", s.max_connections.to_string()),
                        ("shared_buffers", "16MB".into()),
                        ("fsync", "off".into()),
                        ("idle_session_timeout", s.idle_timeout_ms.to_string()),
                        (
                            "idle_in_transaction_session_timeout",
                            s.idle_in_tx_ms.to_string(),
                        ),
                        ("log_connections", "on".into()),
                        ("log_disconnections", "on".into()),
                        ("logging_collector", "off".into()),
                    ] {
                        a.push("-c".into());
                        a.push(format!("{k}={v}"));
                    }
                    (
                        a,
                        log,
                        "-INT",
                        "database system is ready to accept connections",
                    )
                }
                ServerKind::Mariadb => {
                    let tpl = work.maria_template()?;
                    copy_template(&tpl, &dir)?;
                    let log = dir.join("err.log");
                    let d = dir.to_string_lossy().to_string();
                    // 0 = off: MariaDB's default 28800 s.
                    let wait = match s.idle_timeout_ms / 1000 {
                        0 => 28_800,
                        n => n,
                    };
                    let a = vec![
                        "mariadbd".to_string(),
                        "--no-defaults".into(),
                        "--user=mysql".into(),
                        format!("--datadir={d}"),
                        format!("--bind-address={SERVER_IP}"),
                        "--port=3306".into(),
                        format!("--socket={d}/mysqld.sock"),
                        format!("--pid-file={d}/mysqld.pid"),
                        format!("--log-error={}", log.to_string_lossy()),
                        format!("--wait_timeout={wait}"),
                        format!("--interactive_timeout={wait}"),
                        format!("--max_connections={}", s.max_connections),
                        format!("--max_connect_errors={}", s.max_connect_errors),
                        format!("--connect_timeout={}", s.connect_timeout_s),
                        "--innodb-buffer-pool-size=16M".into(),
                        "--innodb-log-file-size=4M".into(),
                        "--skip-log-bin".into(),
                    ];
                    (a, log, "-TERM", "ready for connections")
                }
            };
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", srv_ns]).args(&args);
        let stdout_log = dir.join("stdout.log");
        let out = std::fs::File::create(&stdout_log).map_err(|e| e.to_string())?;
        let err = if case.server == ServerKind::Postgres {
            std::fs::File::create(&log).map_err(|e| e.to_string())?
        } else {
            out.try_clone().map_err(|e| e.to_string())?
        };
        if case.server == ServerKind::Postgres {
            run(&["chown", "postgres:postgres", &log.to_string_lossy()])?;
        }
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", args[0]))?;
        let mut proc = ServerProc {
            child: Some(child),
            stop_signal: stop,
            log: log.clone(),
        };
        // Ready when its log says so and the port listens.
        let deadline = crate::clock::now_ns() + 30_000_000_000;
        loop {
            let logged = std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(ready);
            let listening = run(&["ss", "-N", srv_ns, "-tlnH"])
                .map(|t| t.contains(&format!(":{}", case.server.port())))
                .unwrap_or(false);
            if logged && listening {
                return Ok(proc);
            }
            let logs = || {
                format!("{}\n{}", tail(&log, 20), tail(&stdout_log, 10))
                    .trim()
                    .to_string()
            };
            if let Some(c) = proc.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    return Err(format!(
                        "{} exited ({st}) before it was ready: {}",
                        args[0],
                        logs()
                    ));
                }
            }
            if crate::clock::now_ns() > deadline {
                return Err(format!("{} not ready after 30 s: {}", args[0], logs()));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }
}

/// The last `n` lines of a file.
pub fn tail(p: &Path, n: usize) -> String {
    let t = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = t.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id().to_string();
        let _ = run(&["kill", self.stop_signal, &pid]);
        let deadline = crate::clock::now_ns() + 10_000_000_000;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            if crate::clock::now_ns() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Versions of the servers and tools (for the report), short:
/// `Redis 7.0.15`, `PostgreSQL 15.18`, `MariaDB 10.11.14`.
pub fn versions() -> Vec<(String, String)> {
    let mut v = Vec::new();
    let first_line =
        |cmd: &[&str]| run(cmd).map(|t| t.lines().next().unwrap_or("").trim().to_string());
    let word_after = |text: &str, key: &str| -> Option<String> {
        let i = text.find(key)? + key.len();
        Some(
            text[i..]
                .trim_start()
                .split(|c: char| c.is_whitespace() || c == '-')
                .next()?
                .to_string(),
        )
    };
    if let Ok(t) = first_line(&["redis-server", "--version"]) {
        v.push((
            "redis".into(),
            format!("Redis {}", word_after(&t, "v=").unwrap_or(t)),
        ));
    }
    if let Ok(t) = first_line(&[&format!("{PG_BIN}/postgres"), "--version"]) {
        v.push((
            "postgres".into(),
            format!("PostgreSQL {}", word_after(&t, "(PostgreSQL)").unwrap_or(t)),
        ));
    }
    if let Ok(t) = first_line(&["mariadbd", "--version"]) {
        v.push((
            "mariadb".into(),
            format!("MariaDB {}", word_after(&t, "Ver").unwrap_or(t)),
        ));
    }
    if let Ok(t) = first_line(&["nft", "--version"]) {
        v.push(("nft".into(), t));
    }
    if let Ok(t) = first_line(&["conntrack", "--version"]) {
        v.push(("conntrack".into(), t));
    }
    v
}
