//! Execution environments: arrival, placement, cold start, thaw, freeze,
//! reap, function timeout, and the zombie accounting tied to them.
use super::*;

impl World<'_> {
    // ----- platform ------------------------------------------------------

    pub(super) fn on_arrival(&mut self, func: u16) {
        self.effect();
        let now = self.q.now();
        if let Some((t, f)) = self.arrivals.next_invocation() {
            self.schedule(t, Ev::Arrival { func: f });
        }
        let id = self.next_inv_id;
        self.next_inv_id += 1;
        let seq = self.next_inv_seq;
        self.next_inv_seq += 1;

        // Warm environments of this function only: (function, use key,
        // env). Provisioned environments serve first; arrivals spill over
        // to on-demand ones (model.md 1.6a).
        let prov = match self.cfg.platform.placement {
            _ if self.idle_prov.is_empty() => None,
            Placement::MostRecent => self.idle_prov.most_recent(func),
            Placement::LeastRecent => self.idle_prov.least_recent(func),
            Placement::NewestCreated => self.idle_prov.newest_created(func),
        };
        let pick = prov
            .or_else(|| match self.cfg.platform.placement {
                Placement::MostRecent => self.idle.most_recent(func),
                Placement::LeastRecent => self.idle.least_recent(func),
                Placement::NewestCreated => self
                    .idle_by_age
                    .range((func, 0, 0)..(func.saturating_add(1), 0, 0))
                    .next_back()
                    .map(|&(_, env, key)| (key, env)),
            })
            .map(|(key, env)| (func, key, env));
        if let Some(key) = pick {
            let env = key.2;
            self.idle.remove(key.0, key.1, key.2);
            if self.cfg.platform.placement == Placement::NewestCreated {
                self.idle_by_age.remove(&(key.0, key.2, key.1));
            }
            self.idle_prov.remove(key.0, key.1, key.2);
            let was = self.envs[(env - 1) as usize].state;
            let since = self.envs[(env - 1) as usize].since;
            {
                let e = &mut self.envs[(env - 1) as usize];
                e.idle_key = None;
                e.gen += 1;
                e.state = EnvState::Busy;
            }
            self.env_moved(env, was, EnvState::Busy);
            {
                let e = &mut self.envs[(env - 1) as usize];
                e.inv = Some(Inv {
                    id,
                    seq,
                    arrival: now,
                    cold: false,
                    step: 0,
                    phase: Phase::Init,
                    func,
                    stale_reads: 0,
                    read: None,
                    sent_at: now,
                    waiter: None,
                    held: None,
                    retries: 0,
                    duplicate_writes: 0,
                    parts: None,
                    tls: None,
                });
            }
            if was == EnvState::Frozen {
                self.set_env_zombies(env, false);
                if self.wants(Level::Timeline) {
                    self.emit(
                        Level::Timeline,
                        format!("inv-{id}"),
                        "invoke",
                        vec![("env", env.into()), ("cold", false.into())],
                        format!(
                            "inv-{id} arrives; env-{env} thaws after {} frozen",
                            now.saturating_since(since)
                        ),
                    );
                }
                self.thaw(env, seq);
            } else {
                if self.wants(Level::Timeline) {
                    self.emit(
                        Level::Timeline,
                        format!("inv-{id}"),
                        "invoke",
                        vec![("env", env.into()), ("cold", false.into())],
                        format!("inv-{id} arrives; env-{env} is warm and not yet frozen"),
                    );
                }
                self.start_handler(env);
            }
            return;
        }
        // The function's scale-up rate: new environments in the window.
        let scaled = self.cfg.platform.scale_rate.and_then(|(count, per)| {
            let log = self.scale_log.entry(func).or_default();
            while log.front().is_some_and(|t| now.saturating_since(*t) >= per) {
                log.pop_front();
            }
            (log.len() >= count as usize).then_some((count, per))
        });
        if self.live_envs >= self.cfg.platform.max_concurrency || scaled.is_some() {
            if self.wants(Level::Timeline) {
                let why = match scaled {
                    Some((count, per)) if self.live_envs < self.cfg.platform.max_concurrency => {
                        format!("the function started {count} environments in the last {per} (its scale-up rate)")
                    }
                    _ => format!("{} environments busy = max_concurrency", self.live_envs),
                };
                self.emit(
                    Level::Timeline,
                    format!("inv-{id}"),
                    "throttled",
                    vec![],
                    format!("inv-{id} throttled: {why}"),
                );
            }
            self.record(Outcome {
                id,
                at: now,
                container: 0,
                cold: false,
                error: Some(ErrorKind::Throttled),
                detail: Some("Rate Exceeded (TooManyRequestsException)".into()),
                latency: SimDuration::ZERO,
                function: func,
                stale_reads: 0,
                duplicate_writes: 0,
                target: None,
            });
            return;
        }
        if self.cfg.platform.scale_rate.is_some() {
            self.scale_log.entry(func).or_default().push_back(now);
        }
        let env = self.new_env(
            func,
            EnvState::Initializing,
            Some(Inv {
                id,
                seq,
                arrival: now,
                cold: true,
                step: 0,
                phase: Phase::Init,
                func,
                stale_reads: 0,
                read: None,
                sent_at: now,
                waiter: None,
                held: None,
                retries: 0,
                duplicate_writes: 0,
                parts: None,
                tls: None,
            }),
        );
        // Drawn per cold start (its own stream: nothing when fixed). With
        // SnapStart the restore takes the place of init (model.md 1.6b).
        let restore = self
            .cfg
            .platform
            .snapstart
            .as_ref()
            .map(|s| s.restore_duration.sample(&mut self.restore_rng));
        let init = match restore {
            Some(r) => r,
            None => self.cfg.platform.init_duration.sample(&mut self.init_rng),
        };
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "invoke",
                vec![("env", env.into()), ("cold", true.into())],
                match restore {
                    Some(r) => format!(
                        "inv-{id} arrives; no warm environment: env-{env} resumes from the SnapStart snapshot (restore {r}, no init)"
                    ),
                    None => format!(
                        "inv-{id} arrives; no warm environment: cold start of env-{env} (init {init})"
                    ),
                },
            );
        }
        self.schedule(now + init, Ev::InitDone { env, seq });
    }

    /// A new environment of function `func` in state `state` (counted
    /// live from now), running `inv` if it has one.
    fn new_env(&mut self, func: u16, state: EnvState, inv: Option<Inv>) -> u32 {
        let now = self.q.now();
        let env = self.envs.len() as u32 + 1;
        self.envs.push(Env {
            func,
            tx_keys: Vec::new(),
            state,
            gen: 0,
            idle_key: None,
            next_port: FIRST_EPHEMERAL,
            conns: vec![None; self.cfg.servers.len()],
            socks: Vec::new(),
            front_socks: Vec::new(),
            inv,
            deferred_kernel: Vec::new(),
            deferred_app: Vec::new(),
            since: now,
            pool: None,
            pconns: BTreeMap::new(),
            psock: BTreeMap::new(),
            ka_fail: None,
            deferred_rt: Vec::new(),
            libs: Vec::new(),
            next_waiter: 0,
            pending: std::collections::VecDeque::new(),
            crash: None,
            local_srv: Vec::new(),
            deferred_loopback: Vec::new(),
            tls_sessions: Vec::new(),
            provisioned: false,
            timeout_due: None,
            reap_due: None,
            reap_alarm: None,
            restore_hook: None,
        });
        self.live_envs += 1;
        self.env_moved(env, EnvState::Reaped, state);
        env
    }

    /// Provisioned concurrency (model.md 1.6a): at the start, the main
    /// function's environments that Lambda keeps initialised ahead; its
    /// module-scope objects (pool, library) made, then idle and frozen
    /// like any environment after an invocation, never reaped.
    pub(super) fn provision(&mut self) {
        for _ in 0..self.cfg.platform.provisioned {
            let env = self.new_env(0, EnvState::Idle, None);
            self.envs[(env - 1) as usize].provisioned = true;
            if self.wants(Level::Timeline) {
                self.emit(
                    Level::Timeline,
                    format!("env-{env}"),
                    "provisioned",
                    vec![],
                    format!("env-{env} initialised ahead (provisioned concurrency): warm for the first invocation, never reaped"),
                );
            }
            if !self.is_ext_func(0) {
                self.pool_init(env);
                self.lib_init(env);
            }
            self.go_idle(env);
        }
    }

    pub(super) fn thaw(&mut self, env: u32, seq: u64) {
        let now = self.q.now();
        if self.is_ext_func(self.envs[(env - 1) as usize].func) {
            self.ext_event(ExtEvent::Thawed { env });
        }
        let e = &mut self.envs[(env - 1) as usize];
        let kernel = std::mem::take(&mut e.deferred_kernel);
        let app = std::mem::take(&mut e.deferred_app);
        let rt = std::mem::take(&mut e.deferred_rt);
        // Kernel timers that came due while frozen fire as soon as the vCPU
        // runs again; then the handler and the queued socket events, in the
        // order the scenario chose.
        let loopback = std::mem::take(&mut e.deferred_loopback);
        let n_kernel = kernel.len();
        let n_loop = loopback.len();
        // Segments between the function and a server inside the
        // environment waited in its kernel (model.md 5.14). They arrived
        // within the loopback latency of the freeze, before any kernel
        // timer came due.
        for (seg, from, to) in loopback {
            self.schedule_packet(now, seg, Hop::Host, from, to);
        }
        for (sock, kind, gen) in kernel {
            self.schedule(now, Ev::TcpTimer { sock, kind, gen });
        }
        let n_app = app.len();
        let n_rt = rt.len();
        // Overdue runtime (event-loop) timers take the same place as the
        // queued socket events.
        match self.cfg.platform.thaw_order {
            ThawOrder::HandlerFirst => {
                self.schedule(now, Ev::StartHandler { env, seq });
                for (sock, notice) in app {
                    self.schedule(now, Ev::AppNotice { sock, notice });
                }
                for timer in rt {
                    self.schedule(
                        now,
                        Ev::Runtime {
                            env,
                            timer: Box::new(timer),
                        },
                    );
                }
                self.local_thaw(env);
            }
            ThawOrder::EventsFirst => {
                for (sock, notice) in app {
                    self.schedule(now, Ev::AppNotice { sock, notice });
                }
                for timer in rt {
                    self.schedule(
                        now,
                        Ev::Runtime {
                            env,
                            timer: Box::new(timer),
                        },
                    );
                }
                self.local_thaw(env);
                self.schedule(now, Ev::StartHandler { env, seq });
            }
        }
        if self.envs[(env - 1) as usize].crash.is_some() {
            // A rejection seen as the function froze is raised now, in the
            // invocation that thaws it.
            self.schedule(now, Ev::Crash { env });
        }
        if n_rt > 0 && self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "thaw_runtime_timers",
                vec![("runtime_timers", n_rt.into())],
                format!(
                    "env-{env} thaw: {n_rt} runtime timer(s) that came due while frozen now run, late"
                ),
            );
        }
        if n_loop > 0 && self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "thaw_loopback",
                vec![("segments", n_loop.into())],
                format!(
                    "env-{env} thaw: {n_loop} loopback segment(s) that reached its frozen kernel are delivered now"
                ),
            );
        }
        if (n_kernel > 0 || n_app > 0) && self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "thaw_backlog",
                vec![("kernel_timers", n_kernel.into()), ("app_events", n_app.into())],
                format!(
                    "env-{env} thaw: {n_kernel} overdue kernel timer(s) and {n_app} socket event(s) queued while frozen now run"
                ),
            );
        }
    }

    pub(super) fn start_handler(&mut self, env: u32) {
        let now = self.q.now();
        let timeout = self.cfg.platform.timeout;
        let seq = {
            let e = &mut self.envs[(env - 1) as usize];
            let inv = e.inv.as_mut().expect("handler without invocation");
            inv.step = 0;
            inv.seq
        };
        // The timeout's place in the queue is taken now; the event itself
        // waits while the handler's own work is sure to end first.
        let deadline = now.saturating_add(timeout);
        let place = self.q.reserve();
        self.envs[(env - 1) as usize].timeout_due = Some((deadline, place, seq));
        let func = self.envs[(env - 1) as usize].func;
        if self.is_ext_func(func) {
            // Real code runs the handler; it ends with `Driven::finish`.
            self.arm_function_timeout(env);
            let e = &mut self.envs[(env - 1) as usize];
            let inv = e.inv.as_mut().expect("inv");
            inv.phase = Phase::External;
            let (id, cold) = (inv.id, inv.cold);
            self.ext_event(ExtEvent::Invoke {
                env,
                seq,
                id,
                func,
                cold,
            });
            return;
        }
        if let Some(d) = self.cfg.platform.handler_rejects_after {
            self.arm_function_timeout(env);
            self.schedule(now + d, Ev::HandlerRejects { env, seq });
        }
        self.pool_handler_start(env);
        if !self.inv_matches(env, seq) {
            return;
        }
        // Drawn per invocation (its own stream: nothing when fixed).
        let work = self.cfg.platform.handler_time.sample(&mut self.handler_rng);
        // (A deadline at the end of time is dropped and counted at once,
        // as it always was.)
        if work.is_zero() || now.saturating_add(work) >= deadline || deadline == SimTime::MAX {
            self.arm_function_timeout(env);
        }
        if work.is_zero() {
            self.advance(env);
        } else {
            // The handler's own work before its first request.
            self.envs[(env - 1) as usize]
                .inv
                .as_mut()
                .expect("inv")
                .phase = Phase::Work;
            self.schedule(now + work, Ev::WorkFinished { env, seq });
        }
    }

    /// Puts the running invocation's function timeout in the queue, at the
    /// place reserved when its handler started (`Env::timeout_due`).
    pub(super) fn arm_function_timeout(&mut self, env: u32) {
        let e = &mut self.envs[(env - 1) as usize];
        if let Some((at, place, seq)) = e.timeout_due.take() {
            self.q
                .push_reserved(at, place, Ev::FunctionTimeout { env, seq });
        }
    }

    /// Environment `env` goes from `old` to `new`: the time-weighted counts
    /// of live and busy environments follow (`metrics.platform`).
    pub(super) fn env_moved(&mut self, env: u32, old: EnvState, new: EnvState) {
        fn cat(s: EnvState) -> (i8, i8) {
            match s {
                EnvState::Initializing | EnvState::Busy => (1, 1),
                EnvState::Idle | EnvState::Frozen | EnvState::ShuttingDown => (1, 0),
                EnvState::Reaped => (0, 0),
            }
        }
        let ((l0, b0), (l1, b1)) = (cat(old), cat(new));
        if (l0, b0) == (l1, b1) {
            return;
        }
        let now = self.q.now();
        self.env_count.change(now, l1 - l0, b1 - b0);
        // Per function only when there are several (one function's figures
        // are the whole platform's).
        if self.cfg.client.handlers.is_empty() {
            return;
        }
        let func = self.envs.get((env - 1) as usize).map_or(0, |e| e.func) as usize;
        if self.env_count_fn.len() <= func {
            self.env_count_fn.resize(func + 1, Default::default());
        }
        self.env_count_fn[func].change(now, l1 - l0, b1 - b0);
    }

    pub(super) fn on_freeze(&mut self, env: u32, gen: u32) {
        let now = self.q.now();
        {
            let e = &mut self.envs[(env - 1) as usize];
            if e.gen != gen || e.state != EnvState::Idle {
                return;
            }
            e.state = EnvState::Frozen;
            e.since = now;
        }
        // Drawn once per actual freeze: a cancelled freeze draws nothing.
        // (`reap_after_min`/`_max` is the uniform distribution: the same
        // `random_range` draw on the "platform" stream as it always was.)
        // A provisioned environment is never reaped (and draws nothing).
        let provisioned = self.envs[(env - 1) as usize].provisioned;
        let reap_after =
            (!provisioned).then(|| self.cfg.platform.reap.sample(&mut self.platform_rng));
        self.effect();
        self.set_env_zombies(env, true);
        if self.is_ext_func(self.envs[(env - 1) as usize].func) {
            self.ext_event(ExtEvent::Frozen { env });
        }
        if self.wants(Level::Timeline) {
            let conns = self.envs[(env - 1) as usize].socks.len();
            let (field, reap) = match reap_after {
                Some(r) => (
                    ("reap_after_ns", r.as_nanos().into()),
                    format!("reaped if idle for {r}"),
                ),
                None => (
                    ("provisioned", true.into()),
                    "provisioned: never reaped".to_string(),
                ),
            };
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "freeze",
                vec![field, ("sockets", conns.into())],
                match self.cfg.platform.frozen_kernel {
                    FrozenKernel::Silent => format!(
                        "env-{env} frozen with {conns} socket(s) open; no code runs, no timers fire, inbound packets get no answer; {reap}"
                    ),
                    FrozenKernel::Running => format!(
                        "env-{env} frozen with {conns} socket(s) open; no code runs, but its kernel still answers TCP (frozen_kernel = running); {reap}"
                    ),
                },
            );
        }
        if let Some(r) = reap_after {
            let at = now.saturating_add(r);
            let place = self.q.reserve();
            let e = &mut self.envs[(env - 1) as usize];
            let alarm = Ev::Reap {
                env,
                gen,
                at: place,
            };
            if at == SimTime::MAX {
                // Never due: counted in `events_beyond_end` at each such
                // freeze, as an eager timer was.
                e.reap_due = None;
                self.q.push_reserved(at, place, alarm);
                return;
            }
            e.reap_due = Some((at, place, gen));
            // A live alarm that fires no later moves itself to `at`.
            if e.reap_alarm.is_none_or(|a| a > (at, place)) {
                e.reap_alarm = Some((at, place));
                self.q.push_reserved(at, place, alarm);
            }
        }
    }

    /// An `Ev::Reap` fires: the environment is reaped if this is its
    /// reap time, or the alarm moves to a later one (it was frozen again
    /// since), or it lapses (the environment is warm: its next freeze
    /// sets a new alarm).
    pub(super) fn on_reap_alarm(&mut self, env: u32, gen: u32, place: Reserved) {
        let now = self.q.now();
        let e = &mut self.envs[(env - 1) as usize];
        if e.reap_alarm != Some((now, place)) {
            // Superseded by an earlier alarm (reap times that vary).
            return;
        }
        e.reap_alarm = None;
        match e.reap_due {
            Some(due) if due == (now, place, gen) => self.on_reap(env, gen),
            Some((at, p, g)) if g == e.gen && e.state == EnvState::Frozen => {
                e.reap_alarm = Some((at, p));
                self.q.push_reserved(at, p, Ev::Reap { env, gen: g, at: p });
            }
            _ => {}
        }
    }

    fn on_reap(&mut self, env: u32, gen: u32) {
        let now = self.q.now();
        let (since, socks) = {
            let e = &mut self.envs[(env - 1) as usize];
            if e.gen != gen || e.state != EnvState::Frozen {
                return;
            }
            (e.since, e.socks.len())
        };
        self.effect();
        if let Some(grace) = self.cfg.platform.extension.sigterm_grace() {
            self.start_shutdown(env, grace);
            return;
        }
        if self.cfg.platform.extension == Extension::Internal && self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "shutdown_no_sigterm",
                vec![("sockets", socks.into())],
                format!(
                    "env-{env} shutdown without SIGTERM (internal extension only: extensions get Shutdown, the runtime no signal): connections left open"
                ),
            );
        }
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "reap",
                vec![("sockets", socks.into())],
                format!(
                    "env-{env} reaped after {} idle: {socks} socket(s) vanish with it, no FIN or RST is sent",
                    now.saturating_since(since)
                ),
            );
        }
        self.discard_env(env);
    }

    /// Idle shutdown (SPINDOWN) with a registered external extension: the
    /// runtime gets SIGTERM and `grace` before SIGKILL (AWS-Ext in
    /// docs/sources.md). The environment runs again for the shutdown phase:
    /// overdue kernel timers fire, the function's SIGTERM handler closes
    /// every connection it holds (its client or pool; the guest kernel sends
    /// the FINs), and no other code runs (socket events and runtime timers
    /// queued while frozen are dropped). After `grace` the environment
    /// vanishes as on a plain reap.
    fn start_shutdown(&mut self, env: u32, grace: SimDuration) {
        let now = self.q.now();
        // Real code's runtime ends here; the world closes its sockets as the
        // SIGTERM handler would.
        self.ext_env_gone(env);
        self.drop_app_state(env, EnvState::ShuttingDown);
        let (kernel, socks) = {
            let e = &mut self.envs[(env - 1) as usize];
            (std::mem::take(&mut e.deferred_kernel), e.socks.clone())
        };
        let gen = self.envs[(env - 1) as usize].gen;
        // The environment runs: its server-side peers are no zombies now.
        self.set_env_zombies(env, false);
        for (sock, kind, g) in kernel {
            self.schedule(now, Ev::TcpTimer { sock, kind, gen: g });
        }
        let open: Vec<SockRef> = socks
            .into_iter()
            .filter(|s| {
                self.sock(*s).is_some_and(|l| {
                    l.owner == Owner::Env(env) && l.tcb.state() != thaw_net::TcpState::Closed
                })
            })
            .collect();
        let k = open.len();
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "shutdown_sigterm",
                vec![("connections", k.into()), ("grace_ns", grace.as_nanos().into())],
                format!(
                    "env-{env} shutdown after {} idle: SIGTERM (external extension registered); the runtime closes {k} connection(s) within {grace}",
                    now.saturating_since(self.envs[(env - 1) as usize].since)
                ),
            );
        }
        for s in open {
            self.app_close(s, "the function's SIGTERM handler closes its connection");
        }
        self.schedule(now + grace, Ev::ShutdownDone { env, gen });
    }

    /// The shutdown phase is over: SIGKILL; the environment vanishes.
    pub(super) fn on_shutdown_done(&mut self, env: u32, gen: u32) {
        {
            let e = &self.envs[(env - 1) as usize];
            if e.gen != gen || e.state != EnvState::ShuttingDown {
                return;
            }
        }
        self.effect();
        if self.wants(Level::Timeline) {
            let socks = self.envs[(env - 1) as usize].socks.len();
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "reap",
                vec![("sockets", socks.into())],
                format!(
                    "env-{env} removed after its shutdown phase (SIGKILL): {socks} socket(s) left vanish with it"
                ),
            );
        }
        self.discard_env(env);
    }

    /// The runtime's state goes (shutdown or reset): off the warm list, its
    /// timers void, its client, pool, queued events and transaction gone.
    /// Sockets and kernel timers are the caller's business.
    fn drop_app_state(&mut self, env: u32, state: EnvState) {
        let old = self.envs[(env - 1) as usize].state;
        self.env_moved(env, old, state);
        let e = &mut self.envs[(env - 1) as usize];
        if let Some(k) = e.idle_key.take() {
            self.idle.remove(e.func, k, env);
            self.idle_by_age.remove(&(e.func, env, k));
            self.idle_prov.remove(e.func, k, env);
        }
        e.state = state;
        e.gen += 1;
        e.conns.iter_mut().for_each(|c| *c = None);
        e.tx_keys.clear();
        e.deferred_app.clear();
        e.deferred_rt.clear();
        e.libs.clear();
        e.pending.clear();
        e.crash = None;
        e.tls_sessions.clear();
        e.pool = None;
        e.pconns.clear();
        e.psock.clear();
    }

    /// Reap or reset: the environment and its kernel vanish; nothing is
    /// sent on their behalf.
    pub(super) fn discard_env(&mut self, env: u32) {
        if self.envs[(env - 1) as usize].state != EnvState::ShuttingDown {
            self.ext_env_gone(env);
        }
        self.drop_app_state(env, EnvState::Reaped);
        let socks = {
            let e = &mut self.envs[(env - 1) as usize];
            e.inv = None;
            e.deferred_kernel.clear();
            e.deferred_loopback.clear();
            std::mem::take(&mut e.socks)
        };
        self.live_envs -= 1;
        for s in socks {
            self.free_sock(s);
        }
        self.vanish_local_servers(env);
        // Server-side peers stay (zombies) until the server times them out.
        self.set_env_zombies(env, true);
    }

    pub(super) fn on_function_timeout(&mut self, env: u32) {
        self.effect();
        let now = self.q.now();
        let target = self.request_in_progress(env);
        let (id, arrival, cold, func, stale, read, dups) = {
            let inv = self.envs[(env - 1) as usize].inv.as_ref().expect("matched");
            (
                inv.id,
                inv.arrival,
                inv.cold,
                inv.func,
                inv.stale_reads,
                inv.read,
                inv.duplicate_writes,
            )
        };
        if let Some((token, _)) = read {
            self.detector.read_abandoned(token);
        }
        let t = self.cfg.platform.timeout;
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "function_timeout",
                vec![],
                format!(
                    "inv-{id} hits the function timeout ({t}): Lambda resets env-{env}; its sockets vanish without FIN"
                ),
            );
        }
        self.record(Outcome {
            id,
            at: arrival,
            container: env,
            cold,
            error: Some(ErrorKind::FunctionTimeout),
            detail: Some(format!("Task timed out after {t}")),
            latency: now.saturating_since(arrival),
            function: func,
            stale_reads: stale,
            duplicate_writes: dups,
            target,
        });
        self.discard_env(env);
    }

    pub(super) fn set_env_zombies(&mut self, env: u32, zombie: bool) {
        // Nothing to do without sockets (debug builds still check that
        // the demultiplexer agrees).
        if self.envs[(env - 1) as usize].front_socks.is_empty() && !cfg!(debug_assertions) {
            return;
        }
        let mut socks = self.sock_bufs.pop().unwrap_or_default();
        // The front's sockets from this environment, in port order: what a
        // range query over `demux` finds, kept per environment.
        let env_socks = &self.envs[(env - 1) as usize].front_socks;
        socks.extend(env_socks.iter().map(|(_, s)| *s));
        debug_assert!(
            {
                let mut fronts = self.fronts.clone();
                fronts.sort();
                fronts.dedup();
                let in_demux = fronts.iter().flat_map(|&f| {
                    let lo = flow_key(f, Addr { host: env, port: 0 });
                    let hi = flow_key(
                        f,
                        Addr {
                            host: env,
                            port: u16::MAX,
                        },
                    );
                    self.demux.range(lo..=hi).map(|(_, s)| s)
                });
                socks.iter().eq(in_demux)
            },
            "front_socks mirrors demux"
        );
        for s in socks.drain(..) {
            match self.sock(s).map(|l| l.owner) {
                Some(Owner::Server(c)) => {
                    let srv = self.srv_of_sock(s);
                    self.set_zombie(srv, c, zombie)
                }
                Some(Owner::ProxyClient(c)) => self.set_proxy_zombie(s, c, zombie),
                Some(
                    Owner::Env(_)
                    | Owner::ServerPending
                    | Owner::ServerQueued
                    | Owner::ProxyPending
                    | Owner::ProxyBackend(_)
                    | Owner::Kernel,
                )
                | None => {}
            }
        }
        self.sock_bufs.push(socks);
    }

    /// A connection at the front became a zombie (or stopped being one).
    pub(super) fn zombie_changed(&mut self, zombie: bool) {
        let now = self.q.now();
        self.account_zombies(now);
        if zombie {
            self.zombies += 1;
        } else {
            self.zombies -= 1;
        }
    }

    pub(super) fn effect(&mut self) {
        self.last_effect = self.q.now();
    }

    pub(super) fn account_zombies(&mut self, now: SimTime) {
        let dt = now.saturating_since(self.zombie_mark).as_nanos() as u128;
        self.zombie_ns += dt * self.zombies as u128;
        self.zombie_mark = now;
    }
}
