//! Lambda SnapStart (docs/model.md 1.6b): a new environment resumes from
//! the snapshot taken after init instead of running init. The connections
//! init opened come back ESTABLISHED in its kernel while no server knows
//! them; the after-restore hook may replace them before the handler runs.
use super::*;
use crate::config::{AfterRestore, ServerLocation};

impl World<'_> {
    /// The targets whose connection function `func` keeps in module scope
    /// with the plain client, in server order: `global`, no
    /// `[client.library]`, a server outside the environment. What init
    /// connects and the hook reconnects.
    fn snapshot_targets(&self, func: u16) -> BTreeSet<u16> {
        if self.cfg.client.library.is_some() {
            return BTreeSet::new();
        }
        self.cfg
            .client
            .requests_of(func)
            .iter()
            .map(|r| r.target)
            .filter(|&t| {
                self.cfg.client.strategy_of(t) == Strategy::Global
                    && self.cfg.servers[t as usize].location != ServerLocation::Environment
            })
            .collect()
    }

    /// The restore is over (in place of `init_done`): the module scope is
    /// back as the snapshot holds it, then the after-restore hook or the
    /// handler.
    pub(super) fn on_restored(&mut self, env: u32) {
        let (init_connects, hook) = {
            let s = self
                .cfg
                .platform
                .snapstart
                .as_ref()
                .expect("restored with SnapStart");
            (s.init_connects, s.after_restore)
        };
        let func = self.envs[(env - 1) as usize].func;
        self.envs[(env - 1) as usize].state = EnvState::Busy;
        // Real code (thaw-harness) keeps its own connections.
        let ext = self.is_ext_func(func);
        let captured = if init_connects && !ext {
            self.snapshot_targets(func)
        } else {
            BTreeSet::new()
        };
        if self.wants(Level::Timeline) {
            let n = captured.len();
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "restored",
                vec![("captured", n.into())],
                if n == 0 {
                    format!("env-{env} restored from the SnapStart snapshot: init ran once, at publish time, not now")
                } else {
                    format!(
                        "env-{env} restored from the SnapStart snapshot: init ran once, at publish time; the {n} connection(s) it opened come back ESTABLISHED, and no server knows them"
                    )
                },
            );
        }
        if !ext {
            self.pool_init(env);
            self.lib_init(env);
        }
        for t in captured {
            self.restore_socket(env, t);
        }
        match hook {
            AfterRestore::Reconnect if !ext => self.hook_start(env),
            AfterRestore::Reconnect | AfterRestore::None => self.start_handler(env),
        }
    }

    /// The module-scope connection to `target` as the snapshot holds it:
    /// ESTABLISHED in the restored kernel, the server's greeting read. The
    /// server closed its end long ago (or never had this 4-tuple): the
    /// world has no socket for it there.
    fn restore_socket(&mut self, env: u32, target: u16) {
        let now = self.q.now();
        let remote = self.target_addr(env, target);
        let Some(port) = self.alloc_port_to(env, remote) else {
            return;
        };
        let local = Addr { host: env, port };
        let received = u64::from(self.cfg.servers[target as usize].handshake);
        let mut out = self.buf();
        let tcb = Tcb::restored(
            now,
            self.cfg.platform.tcp,
            local,
            remote,
            received,
            &mut out,
        );
        let s = self.alloc_sock(tcb, Owner::Env(env));
        self.connections_opened += 1;
        {
            let e = &mut self.envs[(env - 1) as usize];
            e.conns[target as usize] = Some(s);
            e.socks.push(s);
        }
        if self.wants(Level::Timeline) {
            let name = self.sock_name(s);
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "snapshot_socket",
                vec![("port", port.into())],
                format!(
                    "{name}: ESTABLISHED from the snapshot (opened by init at publish time); its server has no socket for it"
                ),
            );
        }
        self.apply(s, out);
    }

    /// The after-restore hook starts: it closes what the snapshot holds,
    /// then reconnects each target in turn.
    fn hook_start(&mut self, env: u32) {
        let func = self.envs[(env - 1) as usize].func;
        let targets = self.snapshot_targets(func);
        let old: Vec<SockRef> = targets
            .iter()
            .filter_map(|&t| self.envs[(env - 1) as usize].conns[t as usize].take())
            .collect();
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "after_restore",
                vec![("closes", old.len().into()), ("connects", targets.len().into())],
                format!(
                    "env-{env} after-restore hook: closes {} connection(s) captured in the snapshot and opens {} new one(s) before the handler",
                    old.len(),
                    targets.len()
                ),
            );
        }
        if !old.is_empty() {
            self.envs[(env - 1) as usize].tx_keys.clear();
        }
        for s in old {
            self.app_close(
                s,
                "the after-restore hook closes the connection captured in the snapshot",
            );
        }
        self.hook_connect(env, None);
    }

    /// The hook opens the connection of the first target after `after`
    /// (the same setup as a handler's: CPU, SYN, greeting, TLS), or, when
    /// none is left, the handler starts.
    fn hook_connect(&mut self, env: u32, after: Option<u16>) {
        let func = self.envs[(env - 1) as usize].func;
        let next = self
            .snapshot_targets(func)
            .into_iter()
            .find(|&t| after.is_none_or(|a| t > a));
        let Some(target) = next else {
            let e = &mut self.envs[(env - 1) as usize];
            e.restore_hook = None;
            e.inv.as_mut().expect("inv").phase = Phase::Init;
            if self.wants(Level::Timeline) {
                self.emit(
                    Level::Timeline,
                    format!("env-{env}"),
                    "after_restore_done",
                    vec![],
                    format!("env-{env} after-restore hook done: the handler starts"),
                );
            }
            self.start_handler(env);
            return;
        };
        self.envs[(env - 1) as usize].restore_hook = Some(target);
        let cost = self.connect_cpu_to(env, target);
        self.start_connect_cpu(env, cost, true);
    }

    /// The hook's connection is ready (where a request would be written):
    /// the next target, or the handler.
    pub(super) fn hook_connected(&mut self, env: u32) {
        let t = self.envs[(env - 1) as usize].restore_hook;
        self.hook_connect(env, t);
    }

    /// The hook's connection failed: the hook throws, and the invocation
    /// fails with the error (model.md 1.6b); its later invocations connect
    /// on first use.
    pub(super) fn hook_failed(&mut self, env: u32, kind: ErrorKind, detail: String) {
        let t = self.envs[(env - 1) as usize].restore_hook;
        if let Some(s) = t.and_then(|t| self.envs[(env - 1) as usize].conns[t as usize].take()) {
            self.app_close(s, "closed by the after-restore hook after the error");
        }
        self.finish(
            env,
            Some(kind),
            Some(format!("after-restore hook failed: {detail}")),
        );
        self.envs[(env - 1) as usize].restore_hook = None;
    }
}
