//! Requests an invocation wrote and did not await (`await = false`,
//! model.md 6.4). The handler goes on once the request is written; its
//! reply comes later on the connection, first of the replies owed there,
//! possibly while another invocation runs or at the next thaw. If the
//! connection ends first, the request's promise rejects with nobody to
//! catch it: Node's runtime reports an unhandled rejection and exits, and
//! Lambda resets the environment, failing whichever invocation runs then.
use super::*;

impl World<'_> {
    /// Whether `s` owes replies to requests nobody awaits.
    pub(super) fn has_pending(&self, env: u32, s: SockRef) -> bool {
        self.envs[(env - 1) as usize]
            .pending
            .iter()
            .any(|p| p.sock == s)
    }

    /// The request just written on `s` is not awaited: it is remembered,
    /// and the handler goes on.
    pub(super) fn not_awaited(&mut self, env: u32, s: SockRef) {
        let (id, func, step) = {
            let inv = self.envs[(env - 1) as usize].inv.as_mut().expect("inv");
            let step = inv.step;
            inv.step += 1;
            inv.retries = 0;
            inv.parts = None;
            inv.phase = Phase::Work;
            (inv.id, inv.func, step)
        };
        self.envs[(env - 1) as usize].pending.push_back(Pending {
            sock: s,
            inv: id,
            func,
            step,
        });
        if self.wants(Level::Timeline) {
            let name = self.cfg.client.requests_of(func)[step].name.clone();
            self.emit(
                Level::Timeline,
                format!("inv-{id}"),
                "not_awaited",
                vec![("request", name.as_str().into())],
                format!("inv-{id} does not await {name}: the handler goes on, and its reply comes when it comes"),
            );
        }
        let seq = self.envs[(env - 1) as usize]
            .inv
            .as_ref()
            .map_or(0, |i| i.seq);
        let now = self.q.now();
        if let Some(t) = self.cfg.client.requests_of(func)[step].timeout {
            // The library's timer for it (mysqljs's sequence timeout) is
            // in the event loop: it outlives the invocation and is held
            // while frozen.
            self.schedule(
                now + t,
                Ev::Runtime {
                    env,
                    timer: Box::new(pool::RtTimer::Pending {
                        sock: s,
                        inv: id,
                        step: step as u32,
                    }),
                },
            );
        }
        // The next step runs from the event loop, after this write.
        let work = self.cfg.client.requests_of(func)[step].work_after;
        self.schedule(now + work, Ev::WorkFinished { env, seq });
    }

    /// A reply arrived on `s`, which owes one to a request nobody awaits:
    /// the oldest such request completes.
    pub(super) fn pending_reply(&mut self, env: u32, s: SockRef) {
        let e = &mut self.envs[(env - 1) as usize];
        let Some(i) = e.pending.iter().position(|p| p.sock == s) else {
            return;
        };
        let p = e.pending.remove(i).expect("found");
        if self.wants(Level::Timeline) {
            let name = self.cfg.client.requests_of(p.func)[p.step].name.clone();
            let during = match self.envs[(env - 1) as usize].inv.as_ref() {
                Some(inv) if inv.id != p.inv => format!("while inv-{} runs", inv.id),
                Some(_) => "while it runs".to_string(),
                None => "after it returned".to_string(),
            };
            let what = if self.cfg.client.requests_of(p.func)[p.step].op
                == crate::config::RequestOp::Quit
            {
                "is done (the server closed the connection)"
            } else {
                "gets its reply"
            };
            self.emit(
                Level::Timeline,
                format!("inv-{}", p.inv),
                "not_awaited_done",
                vec![("request", name.as_str().into())],
                format!("inv-{}'s {name} {what} {during} (nobody awaits it)", p.inv),
            );
        }
    }

    /// Whether the oldest request nobody awaits on `s` is a QUIT.
    fn pending_is_quit(&self, env: u32, s: SockRef) -> bool {
        self.envs[(env - 1) as usize]
            .pending
            .iter()
            .find(|p| p.sock == s)
            .is_some_and(|p| {
                self.cfg.client.requests_of(p.func)[p.step].op == crate::config::RequestOp::Quit
            })
    }

    /// The timeout of a request nobody awaits came (a runtime timer): if
    /// it is still pending, the library gives up on it, rejects it and
    /// destroys the connection (mysqljs: "Quit inactivity timeout").
    pub(super) fn pending_timed_out(&mut self, env: u32, s: SockRef, inv: u64, step: usize) {
        let waiting = self.envs[(env - 1) as usize]
            .pending
            .iter()
            .find(|p| p.sock == s)
            .is_some_and(|p| p.inv == inv && p.step == step);
        if !waiting {
            return;
        }
        let func = self.envs[(env - 1) as usize]
            .pending
            .iter()
            .find(|p| p.sock == s)
            .map_or(0, |p| p.func);
        let spec = &self.cfg.client.requests_of(func)[step];
        let t = spec.timeout.unwrap_or(SimDuration::ZERO);
        let what = if spec.op == crate::config::RequestOp::Quit {
            "Quit"
        } else {
            "the request"
        };
        let detail = format!("{what} inactivity timeout: no answer in {t} (the library's timeout)");
        self.pending_lost(env, s, &detail);
        if let Some(i) = self.envs[(env - 1) as usize]
            .conns
            .iter()
            .position(|c| *c == Some(s))
        {
            self.envs[(env - 1) as usize].conns[i] = None;
        }
        self.app_close(s, "destroyed by the library after its timeout");
    }

    /// A socket event on `s`, which owes replies to requests nobody awaits,
    /// while the invocation is not reading it.
    pub(super) fn pending_notice(&mut self, env: u32, s: SockRef) {
        while self.has_pending(env, s) {
            let r = self
                .sock_mut(s)
                .map(|l| l.tcb.recv())
                .unwrap_or(RecvResult::Eof);
            match r {
                RecvResult::WouldBlock => return,
                RecvResult::Data(Payload(m)) if msg_kind(m) == MSG_RESPONSE => {
                    self.pending_reply(env, s)
                }
                RecvResult::Data(_) => {}
                RecvResult::Eof | RecvResult::Err(_) if self.pending_is_quit(env, s) => {
                    // The QUIT nobody awaited is done: the session is over.
                    self.pending_reply(env, s);
                    self.envs[(env - 1) as usize]
                        .pending
                        .retain(|p| p.sock != s);
                    self.app_close(s, "the session is over (QUIT)");
                    return;
                }
                RecvResult::Eof | RecvResult::Err(_) => {
                    let detail = match r {
                        RecvResult::Err(e) => self.explain(s, Some(e), "read").1,
                        _ => "connection closed by the server: read() returned 0 (EOF)".into(),
                    };
                    self.pending_lost(env, s, &detail);
                    if let Some(t) = self.envs[(env - 1) as usize]
                        .conns
                        .iter()
                        .position(|c| *c == Some(s))
                    {
                        self.envs[(env - 1) as usize].conns[t] = None;
                        self.envs[(env - 1) as usize].tx_keys.clear();
                    }
                    self.app_close(s, "closed by the client after the error");
                    return;
                }
            }
        }
    }

    /// The connection `s` ended with requests nobody awaits: they reject,
    /// and the first rejection crashes the runtime.
    pub(super) fn pending_lost(&mut self, env: u32, s: SockRef, detail: &str) {
        let e = &mut self.envs[(env - 1) as usize];
        let Some(i) = e.pending.iter().position(|p| p.sock == s) else {
            return;
        };
        let p = e.pending.remove(i).expect("found");
        e.pending.retain(|x| x.sock != s);
        let spec = &self.cfg.client.requests_of(p.func)[p.step];
        let (name, target) = (spec.name.clone(), spec.target);
        let what = format!("{name} of inv-{} rejected: {detail}", p.inv);
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "unhandled_rejection",
                vec![("request", name.as_str().into()), ("of", p.inv.into())],
                format!("env-{env}: {what}; nobody awaits it: an unhandled rejection"),
            );
        }
        let e = &mut self.envs[(env - 1) as usize];
        if e.crash.is_none() {
            e.crash = Some((what, target));
            if e.state != EnvState::Frozen {
                let now = self.q.now();
                self.schedule(now, Ev::Crash { env });
            }
        }
    }

    /// `Ev::Crash`: Node's runtime reports the unhandled rejection for the
    /// invocation running now, if any, and exits; Lambda resets the
    /// environment (its sockets are closed by the exiting process).
    pub(super) fn on_crash(&mut self, env: u32) {
        match self.envs[(env - 1) as usize].state {
            EnvState::Reaped | EnvState::ShuttingDown | EnvState::Frozen => return,
            EnvState::Initializing | EnvState::Busy | EnvState::Idle => {}
        }
        let Some((what, target)) = self.envs[(env - 1) as usize].crash.take() else {
            return;
        };
        self.effect();
        let now = self.q.now();
        // One rejection brings the process down; the others go with it.
        self.envs[(env - 1) as usize].pending.clear();
        if self.wants(Level::Timeline) {
            self.emit(
                Level::Timeline,
                format!("env-{env}"),
                "runtime_exit",
                vec![],
                format!("env-{env}: Runtime.UnhandledPromiseRejection ({what}): the Node.js runtime exits and Lambda resets env-{env}"),
            );
        }
        // The failed request is the one nobody awaited, on its server.
        let target = Some(target);
        if let Some(inv) = self.envs[(env - 1) as usize].inv.take() {
            if let Some((token, _)) = inv.read {
                self.detector.read_abandoned(token);
            }
            self.record(Outcome {
                id: inv.id,
                at: inv.arrival,
                container: env,
                cold: inv.cold,
                error: Some(ErrorKind::UnhandledRejection),
                detail: Some(format!("Runtime.UnhandledPromiseRejection: {what}")),
                latency: now.saturating_since(inv.arrival),
                function: inv.func,
                stale_reads: inv.stale_reads,
                duplicate_writes: inv.duplicate_writes,
                target,
            });
        }
        // The process exits: its kernel closes what it still holds.
        let socks: Vec<SockRef> = self.envs[(env - 1) as usize]
            .socks
            .iter()
            .copied()
            .filter(|s| self.sock(*s).is_some_and(|l| l.owner == Owner::Env(env)))
            .collect();
        for s in socks {
            self.app_close(s, "the runtime process exits");
        }
        self.discard_env(env);
    }
}
