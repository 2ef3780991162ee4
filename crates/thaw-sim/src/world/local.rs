//! Servers inside the execution environment (`server.location =
//! "environment"`, model.md 5.14): a sidecar, an extension or an adapter's
//! web server on localhost. Each environment that connects gets its own
//! instance of the configured server, in its own slot of
//! `World::servers`. The instance is a process of the environment:
//!
//! - its sockets are in the environment's kernel: with `frozen_kernel =
//!   silent` their timers are held while frozen, like the function's;
//! - the segments between the function and it cross loopback only
//!   (`network.loopback_latency`, no middlebox); one that arrives while the
//!   environment is frozen waits in the kernel for the thaw;
//! - its own timers (idle timeout, handshake timeout, the end of a
//!   request's work) and its reading of sockets are user-space work: held
//!   while frozen and run, late, at the thaw, as runtime timers (11.5);
//! - it vanishes with the environment at reap or reset, with nothing sent.
use super::*;
use crate::config::ServerLocation;
use crate::server::Timer;

/// Instance slots beyond the configured servers and proxies: host ids
/// count down from below the proxy's (`server_host`), so servers of every
/// kind share `MORE_NODES`.
const MAX_INSTANCES: usize = MORE_NODES as usize;

impl World<'_> {
    /// The environment instance `srv` runs in, if it runs in one.
    pub(super) fn local_env(&self, srv: u16) -> Option<u32> {
        match self.srv_env.get(srv as usize) {
            Some(&e) if e != 0 => Some(e),
            _ => None,
        }
    }

    /// The environment whose kernel host `host` is: the environment itself,
    /// or the environment a server instance runs in.
    pub(super) fn kernel_env(&self, host: u32) -> Option<u32> {
        if is_env_host(host) {
            Some(host)
        } else {
            server_of_host(host).and_then(|s| self.local_env(s))
        }
    }

    /// Whether a segment from `src` to `dst` stays inside one environment.
    pub(super) fn is_loopback(&self, src: u32, dst: u32) -> bool {
        (self.srv_env.len() > self.cfg.servers.len())
            && match (self.kernel_env(src), self.kernel_env(dst)) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            }
    }

    /// The server instance environment `env` reaches for configured server
    /// `target`: the configured one, or the environment's own instance
    /// (started on first use).
    pub(super) fn target_srv(&mut self, env: u32, target: u16) -> u16 {
        if self.cfg.servers[target as usize].location != ServerLocation::Environment {
            return target;
        }
        let e = &self.envs[(env - 1) as usize];
        if let Some(&(_, inst)) = e.local_srv.iter().find(|(c, _)| *c == target) {
            return inst;
        }
        let inst = self.start_local(env, target);
        self.envs[(env - 1) as usize].local_srv.push((target, inst));
        inst
    }

    /// Where environment `env` connects to reach configured server
    /// `target`: the proxy in front of it, the server, or the
    /// environment's own instance.
    pub(super) fn target_addr(&mut self, env: u32, target: u16) -> Addr {
        if self.cfg.servers[target as usize].location != ServerLocation::Environment {
            return self.fronts[target as usize];
        }
        let inst = self.target_srv(env, target);
        self.servers[inst as usize].addr()
    }

    /// Starts environment `env`'s instance of configured server `target`
    /// in a free slot.
    fn start_local(&mut self, env: u32, target: u16) -> u16 {
        let sc = &self.cfg.servers[target as usize];
        let mut cfg = sc.clone();
        cfg.name = format!("{}@env-{env}", sc.name);
        let inst = match self.local_free.pop() {
            Some(i) => i,
            None => {
                let i = self.servers.len();
                // The scenario loader bounds the number of environments
                // alive at once so that this never runs out (5.14).
                assert!(
                    i + self.proxies.len() < MAX_INSTANCES,
                    "more servers inside environments than host ids"
                );
                self.srv_cfg.push(target);
                self.srv_env.push(0);
                self.srv_epoch.push(0);
                self.srv_hold.push(Hold::default());
                self.server_down.push(false);
                i as u16
            }
        };
        let addr = Addr {
            host: server_host(inst),
            port: cfg.port,
        };
        let rng = self
            .rngs
            .stream(&format!("server.service_time.{}", cfg.name));
        let mut server = Server::new(
            cfg,
            crate::server::SessionDefaults {
                autocommit: self.cfg.client.autocommit,
                isolation: self.cfg.client.isolation,
                read_routing: self.cfg.client.read_routing,
            },
            addr,
            self.cfg.network.source_ip,
            self.timeline,
        );
        server.set_rng(rng);
        let i = inst as usize;
        if i == self.servers.len() {
            self.servers.push(server);
        } else {
            self.servers[i] = server;
        }
        self.srv_cfg[i] = target;
        self.srv_env[i] = env;
        self.server_down[i] = false;
        if self.wants(Level::Timeline) {
            let name = self.servers[i].name().to_string();
            self.emit(
                Level::Timeline,
                name.clone(),
                "local_server_start",
                vec![("env", env.into())],
                format!(
                    "{name} starts inside env-{env}: the function reaches it over loopback, and it freezes, thaws and vanishes with env-{env}"
                ),
            );
        }
        inst
    }

    /// Environment `env` is reaped or reset: its servers vanish with it,
    /// nothing sent; their slots are free for other environments.
    pub(super) fn vanish_local_servers(&mut self, env: u32) {
        let locals = std::mem::take(&mut self.envs[(env - 1) as usize].local_srv);
        for (target, inst) in locals {
            let i = inst as usize;
            let host = server_host(inst);
            let lo = flow_key(Addr { host, port: 0 }, Addr { host: 0, port: 0 });
            let hi = flow_key(
                Addr {
                    host,
                    port: u16::MAX,
                },
                Addr {
                    host: u32::MAX,
                    port: u16::MAX,
                },
            );
            let socks: Vec<SockRef> = self.demux.range(lo..=hi).map(|(_, s)| *s).collect();
            for s in socks {
                self.free_sock(s);
            }
            let t = self.servers[i].totals();
            let r = &mut self.local_retired[target as usize];
            r.peak = r.peak.max(t.peak);
            r.syn_dropped += t.syn_dropped;
            r.rejected += t.rejected;
            r.evicted += t.evicted;
            r.killed += t.killed;
            self.srv_env[i] = 0;
            self.srv_hold[i] = Hold::default();
            self.srv_epoch[i] = self.srv_epoch[i].wrapping_add(1);
            self.server_down[i] = true;
            self.local_free.push(inst);
        }
    }

    /// A timer of server `srv` while its process does not run (its
    /// environment frozen, or thawed and the process not yet awake): held
    /// (true); a reaped environment's is dropped (true).
    pub(super) fn local_hold_timer(&mut self, srv: u16, timer: Timer<SockRef>) -> bool {
        match self.local_asleep(srv) {
            Asleep::No => false,
            Asleep::Gone => true,
            Asleep::Yes => {
                self.srv_hold[srv as usize].timers.push(timer);
                true
            }
        }
    }

    /// A notice for a socket of a server inside an environment, while its
    /// process does not run: held (true).
    pub(super) fn local_hold_notice(&mut self, s: SockRef, n: Notice) -> bool {
        let Some(srv) = self
            .sock(s)
            .and_then(|l| server_of_host(l.tcb.local().host))
            .filter(|&srv| self.local_env(srv).is_some())
        else {
            return false;
        };
        match self.local_asleep(srv) {
            Asleep::No => false,
            Asleep::Gone => true,
            Asleep::Yes => {
                self.srv_hold[srv as usize].notices.push((s, n));
                true
            }
        }
    }

    fn local_asleep(&self, srv: u16) -> Asleep {
        let Some(env) = self.local_env(srv) else {
            return Asleep::No;
        };
        match self.envs[(env - 1) as usize].state {
            EnvState::Frozen => Asleep::Yes,
            EnvState::Reaped => Asleep::Gone,
            EnvState::Initializing | EnvState::Busy | EnvState::Idle | EnvState::ShuttingDown => {
                if self.srv_hold[srv as usize].wakes_at.is_some() {
                    Asleep::Yes
                } else {
                    Asleep::No
                }
            }
        }
    }

    /// Environment `env` thaws: each of its servers that held work runs
    /// again `thaw_delay` later (at the thaw, after what `thaw_order` put
    /// before it, when 0).
    pub(super) fn local_thaw(&mut self, env: u32) {
        let now = self.q.now();
        let n = self.envs[(env - 1) as usize].local_srv.len();
        for k in 0..n {
            let (target, inst) = self.envs[(env - 1) as usize].local_srv[k];
            let h = &mut self.srv_hold[inst as usize];
            if (h.timers.is_empty() && h.notices.is_empty()) || h.wakes_at.is_some() {
                continue;
            }
            let at = now + self.cfg.servers[target as usize].thaw_delay;
            h.wakes_at = Some(at);
            let epoch = self.srv_epoch[inst as usize];
            self.schedule(at, Ev::LocalWake { srv: inst, epoch });
        }
    }

    /// Server `srv` runs again after a thaw: its overdue timers first (an
    /// event loop runs its timers before it polls for I/O), then what
    /// came on its sockets, each in order.
    pub(super) fn local_wake(&mut self, srv: u16) {
        let h = std::mem::take(&mut self.srv_hold[srv as usize]);
        let (n_t, n_n) = (h.timers.len(), h.notices.len());
        if self.wants(Level::Timeline) {
            let name = self.servers[srv as usize].name().to_string();
            self.emit(
                Level::Timeline,
                name.clone(),
                "local_server_wake",
                vec![("timers", n_t.into()), ("socket_events", n_n.into())],
                format!(
                    "{name} runs again: {n_t} timer(s) that came due while it was frozen, then {n_n} socket event(s)"
                ),
            );
        }
        for t in h.timers {
            self.on_server_timer(srv, t);
        }
        for (s, n) in h.notices {
            self.dispatch_notice(s, n);
        }
    }
}

/// Whether a server's process runs.
enum Asleep {
    /// It runs (or it is not inside an environment).
    No,
    /// Frozen, or not yet awake after a thaw.
    Yes,
    /// Its environment is gone.
    Gone,
}

/// A server inside an environment: what it holds while its process does
/// not run.
#[derive(Debug, Default)]
pub(super) struct Hold {
    /// Its timers that came due, in order.
    timers: Vec<Timer<SockRef>>,
    /// Socket events for it, in order.
    notices: Vec<(SockRef, Notice)>,
    /// After a thaw: when it runs again.
    wakes_at: Option<SimTime>,
}
