//! Running one case: namespaces, server, client, freeze and thaw,
//! observation; then the same case in thaw, and the comparison.
use crate::cases::{Case, FreezeKind, ServerKind};
use crate::client::{ClientSpec, Event, InvRecord};
use crate::clock::{ms_since, next_second_plus, now_ns, sleep_until};
use crate::compare::{self, Check, Outcome, Verdict};
use crate::netns::{Topology, SERVER_IP};
use crate::observe::{self, Sampler, Transition};
use crate::scenario::{self, Timing};
use crate::servers::{ServerProc, Workdir};
use crate::sim::{self, SimResult};
use serde::Serialize;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

/// Sampling period of `ss` and `conntrack`.
pub const SAMPLE_MS: u64 = 50;
/// The freeze starts this long after the client's phase 1 ended (its ACKs
/// are out: Linux's delayed ACK is at most 200 ms, quick ACKs go at once).
pub const FREEZE_DELAY_MS: i64 = 100;

/// One syscall, relative to its invocation's start.
#[derive(Clone, Debug, Serialize)]
pub struct LabCall {
    /// ms from the invocation's start.
    pub t_ms: f64,
    /// Syscall.
    pub call: String,
    /// Result.
    pub result: String,
}

/// One of the client's steps, in ms from t0.
#[derive(Clone, Debug, Serialize)]
pub struct LabInv {
    /// Phase.
    pub phase: usize,
    /// Step index.
    pub index: usize,
    /// Connection.
    pub conn: usize,
    /// `inv` or `interrupt`.
    pub kind: String,
    /// Start, ms from t0.
    pub start_ms: f64,
    /// Duration, ms.
    pub latency_ms: f64,
    /// Outcome.
    pub outcome: String,
    /// Detail.
    pub detail: Option<String>,
    /// Local port.
    pub local_port: u16,
    /// Syscalls.
    pub calls: Vec<LabCall>,
}

/// A sampled state change, in ms from t0.
#[derive(Clone, Debug, Serialize)]
pub struct LabTransition {
    /// ms from t0 (midpoint between samples).
    pub t_ms: f64,
    /// ± ms.
    pub uncertainty_ms: f64,
    /// State (`gone` when it disappeared).
    pub state: String,
    /// Detail.
    pub detail: String,
}

/// What the real system did.
#[derive(Clone, Debug, Serialize)]
pub struct LabRun {
    /// t0 (the client's phase-1 start), epoch ns.
    pub t0_ns: i64,
    /// The freeze's drop rules were in place (ms from t0).
    pub freeze_ms: Option<f64>,
    /// The drop rules were removed (ms from t0).
    pub unfreeze_ms: Option<f64>,
    /// The client started phase 2 (the thaw as thaw models it).
    pub thaw_ms: f64,
    /// Observation ended (ms from t0).
    pub observed_until_ms: f64,
    /// The client's steps.
    pub invocations: Vec<LabInv>,
    /// Server socket of connection 0.
    pub server_socket: Vec<LabTransition>,
    /// Client socket of connection 0.
    pub client_socket: Vec<LabTransition>,
    /// Conntrack flow of connection 0.
    pub flow: Vec<LabTransition>,
    /// Server socket death (ms, ± ms).
    pub server_death: Option<(f64, f64)>,
    /// Server namespace TCP counters at the end.
    pub nstat_server: Vec<(String, u64)>,
    /// Function namespace TCP counters at the end.
    pub nstat_function: Vec<(String, u64)>,
    /// The server's log, last lines.
    pub server_log: String,
}

/// Everything about one case.
#[derive(Clone, Debug, Serialize)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// The verdict.
    pub verdict: Verdict,
    /// Why the case could not run, if it could not.
    pub error: Option<String>,
    /// The lab's observations.
    pub lab: Option<LabRun>,
    /// The thaw scenario (with the measured times).
    pub scenario: String,
    /// thaw's result.
    pub thaw: Option<SimResult>,
    /// The comparisons.
    pub checks: Vec<Check>,
    /// Real time the case took, s.
    pub wall_s: f64,
}

struct ClientGuard {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
}

impl ClientGuard {
    fn finish(&mut self) -> String {
        self.stdin.take();
        let mut err = String::new();
        if let Some(mut c) = self.child.take() {
            let deadline = now_ns() + 3_000_000_000;
            loop {
                match c.try_wait() {
                    Ok(Some(_)) => break,
                    Ok(None) if now_ns() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    _ => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                }
            }
            if let Some(mut e) = c.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut e, &mut err);
            }
        }
        err
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.stdin.take();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_phase(
    rx: &Receiver<Event>,
    phase: usize,
    deadline_ns: i64,
    invs: &mut Vec<InvRecord>,
) -> Result<i64, String> {
    loop {
        let left = deadline_ns - now_ns();
        if left <= 0 {
            return Err(format!("the client did not finish phase {phase} in time"));
        }
        match rx.recv_timeout(Duration::from_nanos(left as u64)) {
            Ok(Event::Inv(r)) => invs.push(r),
            Ok(Event::PhaseDone { phase: p, t_ns }) if p == phase => return Ok(t_ns),
            Ok(Event::Fatal { msg }) => return Err(format!("client: {msg}")),
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {
                return Err(format!("the client did not finish phase {phase} in time"))
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(format!("the client exited during phase {phase}"))
            }
        }
    }
}

fn to_ms(t0: i64, tl: &[Transition]) -> Vec<LabTransition> {
    tl.iter()
        .map(|t| LabTransition {
            t_ms: ms_since(t0, t.t_ns),
            uncertainty_ms: t.uncertainty_ns as f64 / 1e6,
            state: t.state.clone(),
            detail: t.detail.clone(),
        })
        .collect()
}

/// Runs the real side of `case`.
fn lab_run(case: &Case, index: usize, work: &mut Workdir, exe: &Path) -> Result<LabRun, String> {
    let topo = Topology::create(case, index)?;
    let server = ServerProc::start(case, index, &topo.srv_ns, work)?;
    let port = case.server.port();
    let start_at = next_second_plus(5, 400);
    let spec = ClientSpec {
        server: format!("{SERVER_IP}:{port}").parse().expect("address"),
        kind: case.server,
        user_timeout_ms: case.user_timeout_ms,
        bound_ms: case.bound_ms,
        start_at_ns: start_at,
        phases: vec![case.phase1.clone(), case.phase2.clone()],
    };
    let spec_json = serde_json::to_string(&spec).map_err(|e| e.to_string())?;
    let sampler = Sampler::start(
        topo.srv_ns.clone(),
        topo.fn_ns.clone(),
        topo.mb_ns.clone(),
        port,
        SAMPLE_MS,
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", &topo.fn_ns])
        .arg(exe)
        .args(["client", &spec_json])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting the client: {e}"))?;
    let stdout = child.stdout.take().expect("piped");
    let stdin = child.stdin.take();
    let mut guard = ClientGuard {
        child: Some(child),
        stdin,
    };
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(ev) = serde_json::from_str::<Event>(&line) {
                if tx.send(ev).is_err() {
                    break;
                }
            }
        }
    });

    let mut invs = Vec::new();
    // Phase 1.
    let t0 = start_at;
    let p1_done = wait_phase(&rx, 1, start_at + 30_000_000_000, &mut invs)?;
    let t0 = invs.first().map(|r| r.start_ns).unwrap_or(t0);
    let mut freeze_ms = None;
    let mut unfreeze_ms = None;
    if case.freeze == FreezeKind::Drop {
        sleep_until(p1_done + FREEZE_DELAY_MS * 1_000_000);
        topo.freeze()?;
        freeze_ms = Some(ms_since(t0, now_ns()));
    }
    let thaw_at = t0 + case.thaw_at_ms as i64 * 1_000_000;
    if now_ns() > thaw_at {
        return Err(format!(
            "phase 1 ended too late for the thaw at {} ms",
            case.thaw_at_ms
        ));
    }
    sleep_until(thaw_at);
    if case.freeze == FreezeKind::Drop {
        topo.thaw()?;
        unfreeze_ms = Some(ms_since(t0, now_ns()));
    }
    if let Some(i) = guard.stdin.as_mut() {
        writeln!(i, "go").map_err(|e| format!("waking the client: {e}"))?;
        i.flush().ok();
    }
    let p2_deadline = now_ns() + (case.bound_ms as i64 * 3 + 5000) * 1_000_000;
    wait_phase(&rx, 2, p2_deadline, &mut invs)?;
    let until = t0 + case.observe_until_ms as i64 * 1_000_000;
    sleep_until(until);
    let observed_until_ms = ms_since(t0, now_ns());
    let samples = sampler.finish();
    let nstat_server = Topology::nstat(&topo.srv_ns);
    let nstat_function = Topology::nstat(&topo.fn_ns);
    let client_err = guard.finish();
    let server_log = server.log_tail(15);
    drop(server);
    drop(topo);

    let thaw_ms = invs
        .iter()
        .find(|r| r.phase == 2)
        .map(|r| ms_since(t0, r.start_ns))
        .unwrap_or(case.thaw_at_ms as f64);
    let conn0_port = invs
        .iter()
        .find(|r| r.conn == 0 && r.local_port != 0)
        .map(|r| r.local_port)
        .unwrap_or(0);
    let sock = observe::server_socket_timeline(&samples, port, conn0_port);
    let flow = observe::flow_timeline(&samples, port, conn0_port);
    let client_sock = observe::client_socket_timeline(&samples, port, conn0_port);
    let server_death = observe::death(&sock).map(|(t, u)| (ms_since(t0, t), u as f64 / 1e6));
    let invocations = invs
        .iter()
        .map(|r| LabInv {
            phase: r.phase,
            index: r.index,
            conn: r.conn,
            kind: r.kind.clone(),
            start_ms: ms_since(t0, r.start_ns),
            latency_ms: (r.end_ns - r.start_ns) as f64 / 1e6,
            outcome: r.outcome.clone(),
            detail: r.detail.clone(),
            local_port: r.local_port,
            calls: r
                .calls
                .iter()
                .map(|c| LabCall {
                    t_ms: (c.t_ns - r.start_ns) as f64 / 1e6,
                    call: c.call.clone(),
                    result: c.result.clone(),
                })
                .collect(),
        })
        .collect();
    let mut server_log = server_log;
    if !client_err.trim().is_empty() {
        server_log.push_str("\n--- client stderr ---\n");
        server_log.push_str(client_err.trim());
    }
    Ok(LabRun {
        t0_ns: t0,
        freeze_ms,
        unfreeze_ms,
        thaw_ms,
        observed_until_ms,
        invocations,
        server_socket: to_ms(t0, &sock),
        client_socket: to_ms(t0, &client_sock),
        flow: to_ms(t0, &flow),
        server_death,
        nstat_server,
        nstat_function,
        server_log,
    })
}

/// The timing thaw should use: the lab's measured step starts and freeze.
pub fn measured_timing(case: &Case, lab: &LabRun) -> Timing {
    let mut t = Timing::planned(case);
    for inv in &lab.invocations {
        if let Some(s) = t.step_start_us.get_mut(inv.index) {
            *s = (inv.start_ms.max(0.0) * 1000.0).round() as u64;
        }
    }
    let p1_end = lab
        .invocations
        .iter()
        .filter(|i| i.phase == 1)
        .map(|i| i.start_ms + i.latency_ms)
        .fold(0.0, f64::max);
    if let Some(f) = lab.freeze_ms {
        t.freeze_delay_us = ((f - p1_end).max(0.0) * 1000.0).round() as u64;
    }
    t.server_startup_us = server_startup_us(case, lab);
    t
}

/// For a server with a handshake: the first `read()` on connection 0 after
/// its `connect()`, less a round trip of the veth path (2 × 25 µs).
fn server_startup_us(case: &Case, lab: &LabRun) -> Option<u64> {
    if case.server == ServerKind::Redis {
        return None;
    }
    let first = lab
        .invocations
        .iter()
        .find(|i| i.phase == 1 && i.conn == 0 && i.kind == "inv")?;
    let connected = first
        .calls
        .iter()
        .find(|c| c.call == "connect" && c.result == "ok")?
        .t_ms;
    let answered = first
        .calls
        .iter()
        .find(|c| c.call == "read" && c.result.ends_with("bytes"))?
        .t_ms;
    let us = ((answered - connected) * 1000.0).round() - 50.0;
    (us > 0.0).then_some(us as u64)
}

/// Compares the lab's run with thaw's.
pub fn compare(case: &Case, lab: &LabRun, thaw: &SimResult) -> (Vec<Check>, Verdict) {
    let SimResult::Ran {
        invocations,
        server_socket,
        ..
    } = thaw
    else {
        return match thaw {
            SimResult::PendingModel { .. } => (Vec::new(), Verdict::PendingModel),
            _ => (Vec::new(), Verdict::Error),
        };
    };
    let mut checks = Vec::new();
    let mut ordinal = vec![0usize; case.conns()];
    let mut conn0_env = None;
    for inv in lab.invocations.iter().filter(|i| i.kind == "inv") {
        let k = ordinal[inv.conn];
        ordinal[inv.conn] += 1;
        let f = scenario::function_name(inv.conn);
        let sim_inv = invocations.iter().filter(|s| s.function == f).nth(k);
        let what = format!("phase {} conn {} invocation {}", inv.phase, inv.conn, k + 1);
        match sim_inv {
            Some(s) => {
                if inv.conn == 0 && conn0_env.is_none() {
                    conn0_env = Some(s.container);
                }
                checks.push(compare::check_invocation(
                    &what,
                    &Outcome {
                        kind: &inv.outcome,
                        ms: inv.latency_ms,
                    },
                    &Outcome {
                        kind: &s.outcome,
                        ms: s.latency_ms,
                    },
                ));
            }
            None => checks.push(Check {
                what,
                lab: inv.outcome.clone(),
                thaw: "no such invocation".into(),
                agree: false,
                note: "thaw did not run it".into(),
            }),
        }
    }
    if let Some(env) = conn0_env {
        let sim_death = sim::death(server_socket, env).filter(|t| *t <= lab.observed_until_ms);
        checks.push(compare::check_death(lab.server_death, sim_death));
    }
    let v = Verdict::of(&checks);
    (checks, v)
}

/// Runs `case` (number `index` of this run) in the lab and in thaw.
pub fn run_case(case: &Case, index: usize, work: &mut Workdir, exe: &Path) -> CaseResult {
    let started = now_ns();
    let mut res = CaseResult {
        case: case.clone(),
        verdict: Verdict::Error,
        error: None,
        lab: None,
        scenario: scenario::generate(case, &Timing::planned(case)),
        thaw: None,
        checks: Vec::new(),
        wall_s: 0.0,
    };
    let lab = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lab_run(case, index, work, exe)
    }));
    match lab {
        Ok(Ok(lab)) => {
            let timing = measured_timing(case, &lab);
            res.scenario = scenario::generate(case, &timing);
            let thaw = sim::run(
                case.name,
                &res.scenario,
                case.path,
                scenario::server_name(case.server),
            );
            let (checks, verdict) = compare(case, &lab, &thaw);
            res.checks = checks;
            res.verdict = verdict;
            if let SimResult::Failed { reason } = &thaw {
                res.error = Some(format!("thaw: {reason}"));
            }
            res.thaw = Some(thaw);
            res.lab = Some(lab);
        }
        Ok(Err(e)) => res.error = Some(e),
        Err(_) => {
            res.error = Some("the lab panicked (namespaces and servers were cleaned up)".into())
        }
    }
    res.wall_s = (now_ns() - started) as f64 / 1e9;
    res
}

/// The invocation a case is about: the first one after the thaw.
pub fn key_invocation(lab: &LabRun) -> Option<&LabInv> {
    lab.invocations
        .iter()
        .find(|i| i.phase == 2 && i.kind == "inv")
}

/// The key invocation's thaw counterpart.
pub fn key_sim<'a>(lab: &LabRun, thaw: &'a SimResult) -> Option<&'a sim::SimInv> {
    let key = key_invocation(lab)?;
    let k = lab
        .invocations
        .iter()
        .filter(|i| i.kind == "inv" && i.conn == key.conn && i.index < key.index)
        .count();
    match thaw {
        SimResult::Ran { invocations, .. } => invocations
            .iter()
            .filter(|s| s.function == scenario::function_name(key.conn))
            .nth(k),
        _ => None,
    }
}
