//! Observation: `ss -tano` in the server namespace and `conntrack -L` in the
//! middlebox namespace, sampled every ~50 ms, and the state transitions of
//! the sockets and flows a case follows.
use crate::clock::now_ns;
use serde::Serialize;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// One socket of `ss -tano`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SsRow {
    /// `ESTAB`, `FIN-WAIT-1`, `TIME-WAIT`, `LISTEN` …
    pub state: String,
    /// Receive queue.
    pub recv_q: u64,
    /// Send queue (unacknowledged or unsent bytes).
    pub send_q: u64,
    /// Local address.
    pub local_ip: String,
    /// Local port.
    pub local_port: u16,
    /// Peer address.
    pub peer_ip: String,
    /// Peer port (0 for `*`).
    pub peer_port: u16,
    /// `timer:(on,204ms,1)` etc., if any.
    pub timer: Option<String>,
}

fn split_addr(s: &str) -> Option<(String, u16)> {
    let i = s.rfind(':')?;
    let port = match &s[i + 1..] {
        "*" => 0,
        p => p.parse().ok()?,
    };
    Some((s[..i].trim_matches(['[', ']']).to_string(), port))
}

/// Parses `ss -tan` / `ss -tano` output (with or without the header).
pub fn parse_ss(text: &str) -> Vec<SsRow> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[0] == "State" {
            continue;
        }
        let (Ok(recv_q), Ok(send_q)) = (f[1].parse(), f[2].parse()) else {
            continue;
        };
        let (Some((local_ip, local_port)), Some((peer_ip, peer_port))) =
            (split_addr(f[3]), split_addr(f[4]))
        else {
            continue;
        };
        let timer = f[5..]
            .iter()
            .find(|t| t.starts_with("timer:"))
            .map(|t| t.to_string());
        rows.push(SsRow {
            state: f[0].to_string(),
            recv_q,
            send_q,
            local_ip,
            local_port,
            peer_ip,
            peer_port,
            timer,
        });
    }
    rows
}

/// One flow of `conntrack -L`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CtRow {
    /// `tcp`.
    pub proto: String,
    /// Seconds left.
    pub timeout_s: u64,
    /// `ESTABLISHED`, `FIN_WAIT`, `CLOSE` …
    pub state: String,
    /// Original direction source.
    pub src: String,
    /// Original direction destination.
    pub dst: String,
    /// Original source port.
    pub sport: u16,
    /// Original destination port.
    pub dport: u16,
    /// Reply direction destination (the NAT's address).
    pub reply_dst: String,
    /// Reply destination port (the translated source port).
    pub reply_dport: u16,
    /// `[ASSURED]`, `[UNREPLIED]`.
    pub flags: Vec<String>,
}

/// Parses `conntrack -L` output (TCP flows).
pub fn parse_conntrack(text: &str) -> Vec<CtRow> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 5 || f[0] != "tcp" {
            continue;
        }
        let Ok(timeout_s) = f[2].parse() else {
            continue;
        };
        let state = f[3].to_string();
        let mut kv: Vec<(&str, &str)> = Vec::new();
        let mut flags = Vec::new();
        for t in &f[4..] {
            if let Some((k, v)) = t.split_once('=') {
                kv.push((k, v));
            } else if t.starts_with('[') {
                flags.push(t.trim_matches(['[', ']']).to_string());
            }
        }
        let get = |key: &str, nth: usize| -> Option<&str> {
            kv.iter()
                .filter(|(k, _)| *k == key)
                .nth(nth)
                .map(|(_, v)| *v)
        };
        let (Some(src), Some(dst), Some(sport), Some(dport)) = (
            get("src", 0),
            get("dst", 0),
            get("sport", 0),
            get("dport", 0),
        ) else {
            continue;
        };
        rows.push(CtRow {
            proto: f[0].to_string(),
            timeout_s,
            state,
            src: src.to_string(),
            dst: dst.to_string(),
            sport: sport.parse().unwrap_or(0),
            dport: dport.parse().unwrap_or(0),
            reply_dst: get("dst", 1).unwrap_or("").to_string(),
            reply_dport: get("dport", 1).and_then(|p| p.parse().ok()).unwrap_or(0),
            flags,
        });
    }
    rows
}

/// Everything sampled during a case.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Samples {
    /// (epoch ns, sockets of the server port).
    pub ss: Vec<(i64, Vec<SsRow>)>,
    /// (epoch ns, the function namespace's sockets to the server port).
    pub client_ss: Vec<(i64, Vec<SsRow>)>,
    /// (epoch ns, TCP flows).
    pub ct: Vec<(i64, Vec<CtRow>)>,
}

/// A state change seen by sampling: at `t_ns` (the midpoint between the
/// last sample before and the first sample after), the thing went to
/// `state` (`gone` when it disappeared).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Transition {
    /// Epoch ns (midpoint).
    pub t_ns: i64,
    /// Half the sampling gap: the uncertainty of `t_ns`.
    pub uncertainty_ns: i64,
    /// New state.
    pub state: String,
    /// Extra text (timer, send queue, timeout left).
    pub detail: String,
}

/// What `pick` reports about the followed thing in one sample: its state,
/// a detail, and, if a kernel timer is armed on it, when that timer fires
/// (epoch ns: the sample's time plus the remaining time `ss -o` shows).
pub type Seen = (String, String, Option<i64>);

/// How late a kernel timer may fire after the expiry `ss -o` shows: the
/// timer wheel rounds an expiry 63–503 jiffies ahead up to 8 jiffies (32 ms
/// at HZ = 250; `calc_wheel_index()` in kernel/time/timer.c), plus a tick.
pub const TIMER_SLACK_NS: i64 = 36_000_000;

/// Transitions of the first thing `pick` finds in each sample. A change
/// between two samples that the earlier sample's timer explains (its expiry
/// falls between them) is dated within [expiry, expiry + TIMER_SLACK_NS]
/// ∩ (previous sample, sample]: a retransmission, a give-up, a keepalive
/// probe or death, the FIN_WAIT2 timer (±18 ms at most); any other change
/// at the midpoint between the samples.
pub fn transitions<T>(
    samples: &[(i64, Vec<T>)],
    pick: impl Fn(i64, &[T]) -> Option<Seen>,
) -> Vec<Transition> {
    let mut out: Vec<Transition> = Vec::new();
    let mut prev: Option<(i64, Option<i64>)> = None;
    let mut cur: Option<String> = None;
    for (t, rows) in samples {
        let now = pick(*t, rows);
        let state = now.as_ref().map(|(s, _, _)| s.clone());
        let changed = match (&cur, &state) {
            (None, Some(_)) => true,
            (Some(a), Some(b)) => a != b,
            (Some(_), None) => true,
            (None, None) => false,
        };
        if changed {
            let (t_at, unc) = match prev {
                Some((p, Some(fire))) if fire >= p && fire <= *t => {
                    let lo = fire.max(p);
                    let hi = (fire + TIMER_SLACK_NS).min(*t);
                    ((lo + hi) / 2, (hi - lo) / 2)
                }
                Some((p, _)) => ((p + t) / 2, (t - p) / 2),
                None => (*t, 0),
            };
            out.push(Transition {
                t_ns: t_at,
                uncertainty_ns: unc,
                state: state.clone().unwrap_or_else(|| "gone".into()),
                detail: now.as_ref().map(|(_, d, _)| d.clone()).unwrap_or_default(),
            });
        }
        cur = state;
        prev = Some((*t, now.and_then(|(_, _, f)| f)));
    }
    out
}

/// Parses an `ss -o` timer: `timer:(on,1.200ms,2)` → ("on", 1200 ms, 2).
/// ss writes milliseconds as `184ms`, `1.200ms` (1.2 s), `12sec`,
/// `1min2sec`, `119min` (iproute2 `print_ms_timer()`).
pub fn parse_timer(t: &str) -> Option<(String, u64, u32)> {
    let inner = t.strip_prefix("timer:(")?.strip_suffix(')')?;
    let mut parts = inner.split(',');
    let kind = parts.next()?.to_string();
    let mut rest = parts.next()?;
    let count: u32 = parts.next()?.parse().ok()?;
    let mut ms: u64 = 0;
    if let Some(i) = rest.find("min") {
        ms += rest[..i].parse::<u64>().ok()? * 60_000;
        rest = &rest[i + 3..];
    }
    if let Some(i) = rest.find("sec") {
        ms += rest[..i].parse::<u64>().ok()? * 1000;
        rest = &rest[i + 3..];
    }
    if let Some(i) = rest.find('.') {
        ms += rest[..i].parse::<u64>().ok()? * 1000;
        rest = &rest[i + 1..];
    }
    if let Some(v) = rest.strip_suffix("ms") {
        ms += v.parse::<u64>().ok()?;
    } else if !rest.is_empty() {
        return None;
    }
    Some((kind, ms, count))
}

/// The state of a followed socket in one sample: `ss`'s state with the
/// retransmission count (`FIN-WAIT-1 retrans 2`) or keepalive probe count
/// (`ESTAB probes 1`), so that every retransmission and probe is a
/// transition, and when its timer fires.
fn seen(t: i64, r: &SsRow) -> Seen {
    let mut d = format!("send-q {}", r.send_q);
    let timer = r.timer.as_deref().and_then(parse_timer);
    if let Some(t) = &r.timer {
        d.push(' ');
        d.push_str(t);
    }
    let state = match &timer {
        Some((k, _, n)) if k == "on" && *n > 0 => format!("{} retrans {n}", r.state),
        Some((k, _, n)) if k == "keepalive" && *n > 0 => format!("{} probes {n}", r.state),
        _ => r.state.clone(),
    };
    let fire = timer.map(|(_, ms, _)| t + ms as i64 * 1_000_000);
    (state, d, fire)
}

/// The server socket of the connection whose client port is `client_port`
/// (the peer port; a NAT that keeps ports keeps it too), or, if no socket
/// has it, the first non-listening socket of the server port.
pub fn server_socket_timeline(
    samples: &Samples,
    server_port: u16,
    client_port: u16,
) -> Vec<Transition> {
    let by_port = samples.ss.iter().any(|(_, rows)| {
        rows.iter()
            .any(|r| r.local_port == server_port && r.peer_port == client_port)
    });
    let first_peer: Option<(String, u16)> = samples.ss.iter().find_map(|(_, rows)| {
        rows.iter()
            .find(|r| r.local_port == server_port && r.state != "LISTEN")
            .map(|r| (r.peer_ip.clone(), r.peer_port))
    });
    transitions(&samples.ss, |t, rows| {
        rows.iter()
            .find(|r| {
                r.local_port == server_port
                    && r.state != "LISTEN"
                    && if by_port {
                        r.peer_port == client_port
                    } else {
                        first_peer
                            .as_ref()
                            .is_some_and(|(ip, p)| *ip == r.peer_ip && *p == r.peer_port)
                    }
            })
            .map(|r| seen(t, r))
    })
}

/// The client's socket from `client_port` to `server_port` (in the
/// function namespace).
pub fn client_socket_timeline(
    samples: &Samples,
    server_port: u16,
    client_port: u16,
) -> Vec<Transition> {
    transitions(&samples.client_ss, |t, rows| {
        rows.iter()
            .find(|r| r.local_port == client_port && r.peer_port == server_port)
            .map(|r| seen(t, r))
    })
}

/// The conntrack flow from `client_port` to `server_port`.
pub fn flow_timeline(samples: &Samples, server_port: u16, client_port: u16) -> Vec<Transition> {
    transitions(&samples.ct, |_, rows| {
        rows.iter()
            .find(|r| r.sport == client_port && r.dport == server_port)
            .map(|r| {
                (
                    r.state.clone(),
                    format!("timeout {} s left", r.timeout_s),
                    None,
                )
            })
    })
}

/// The socket's death: when it went to `gone` or `TIME-WAIT` (epoch ns,
/// uncertainty).
pub fn death(tl: &[Transition]) -> Option<(i64, i64)> {
    tl.iter()
        .find(|t| t.state == "gone" || t.state.starts_with("TIME-WAIT"))
        .map(|t| (t.t_ns, t.uncertainty_ns))
}

/// A background sampler.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Samples>>,
}

fn run_text(cmd: &mut Command) -> String {
    cmd.output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default()
}

impl Sampler {
    /// Samples `ss` in `srv_ns` (sockets of `port`) and `fn_ns` (sockets to
    /// `port`) and, with `mb_ns`, `conntrack -L` there, every `interval_ms`.
    pub fn start(
        srv_ns: String,
        fn_ns: String,
        mb_ns: Option<String>,
        port: u16,
        interval_ms: u64,
    ) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut out = Samples::default();
            while !s2.load(Ordering::Relaxed) {
                let t = now_ns();
                let ss = run_text(Command::new("ss").args(["-N", &srv_ns, "-tanoH"]));
                let rows: Vec<SsRow> = parse_ss(&ss)
                    .into_iter()
                    .filter(|r| r.local_port == port)
                    .collect();
                out.ss.push((t, rows));
                let t2 = now_ns();
                let ss = run_text(Command::new("ss").args(["-N", &fn_ns, "-tanoH"]));
                let rows: Vec<SsRow> = parse_ss(&ss)
                    .into_iter()
                    .filter(|r| r.peer_port == port)
                    .collect();
                out.client_ss.push((t2, rows));
                if let Some(mb) = &mb_ns {
                    let t = now_ns();
                    let ct = run_text(Command::new("ip").args([
                        "netns",
                        "exec",
                        mb,
                        "conntrack",
                        "-L",
                        "-p",
                        "tcp",
                    ]));
                    out.ct.push((t, parse_conntrack(&ct)));
                }
                crate::clock::sleep_until(t + interval_ms as i64 * 1_000_000);
            }
            out
        });
        Sampler {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops and returns the samples.
    pub fn finish(mut self) -> Samples {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Parses `nstat -asz` output: (counter, value) for the counters the lab
/// reports, non-zero only.
pub fn parse_nstat(text: &str) -> Vec<(String, u64)> {
    const KEEP: &[&str] = &[
        "TcpActiveOpens",
        "TcpPassiveOpens",
        "TcpEstabResets",
        "TcpRetransSegs",
        "TcpOutRsts",
        "TcpExtTCPAbortOnData",
        "TcpExtTCPAbortOnClose",
        "TcpExtTCPAbortOnTimeout",
        "TcpExtTCPTimeouts",
        "TcpExtTCPKeepAlive",
        "TcpExtTCPAbortOnLinger",
    ];
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let name = f.next()?;
            let v: u64 = f.next()?.parse().ok()?;
            (KEEP.contains(&name) && v > 0).then(|| (name.to_string(), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SS: &str = "State      Recv-Q Send-Q Local Address:Port  Peer Address:PortProcess
LISTEN     0      511        10.77.2.2:6379       0.0.0.0:*
FIN-WAIT-1 0      1          10.77.2.2:6379     10.77.2.1:39514 timer:(on,408ms,2)
ESTAB      0      0          10.77.2.2:6379     10.77.2.3:40000 timer:(keepalive,1.2sec,0)
TIME-WAIT  0      0          10.77.2.2:6379     10.77.2.3:40002 timer:(timewait,59sec,0)
";

    #[test]
    fn ss_rows() {
        let rows = parse_ss(SS);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].state, "LISTEN");
        assert_eq!(rows[0].peer_port, 0);
        assert_eq!(rows[1].state, "FIN-WAIT-1");
        assert_eq!(rows[1].send_q, 1);
        assert_eq!(rows[1].peer_ip, "10.77.2.1");
        assert_eq!(rows[1].peer_port, 39514);
        assert_eq!(rows[1].timer.as_deref(), Some("timer:(on,408ms,2)"));
        assert_eq!(rows[3].state, "TIME-WAIT");
        // Without -o and without the header.
        let rows = parse_ss("ESTAB 0 0 10.77.2.2:3306 10.77.2.1:39514\n");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].timer, None);
    }

    const CT: &str = "tcp      6 119 TIME_WAIT src=10.77.1.2 dst=10.77.2.2 sport=53250 dport=6379 src=10.77.2.2 dst=10.77.2.1 sport=6379 dport=53250 [ASSURED] mark=0 use=1
tcp      6 3 FIN_WAIT src=10.77.1.2 dst=10.77.2.2 sport=40000 dport=6379 src=10.77.2.2 dst=10.77.2.1 sport=6379 dport=40000 [ASSURED] mark=0 use=1
tcp      6 118 SYN_SENT src=10.77.1.2 dst=10.77.2.2 sport=40004 dport=6379 [UNREPLIED] src=10.77.2.2 dst=10.77.2.1 sport=6379 dport=1024 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.
";

    #[test]
    fn conntrack_rows() {
        let rows = parse_conntrack(CT);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].state, "FIN_WAIT");
        assert_eq!(rows[1].timeout_s, 3);
        assert_eq!(rows[1].sport, 40000);
        assert_eq!(rows[1].reply_dst, "10.77.2.1");
        assert_eq!(rows[2].flags, vec!["UNREPLIED".to_string()]);
        assert_eq!(rows[2].reply_dport, 1024);
    }

    fn row(state: &str, peer_port: u16) -> SsRow {
        SsRow {
            state: state.into(),
            recv_q: 0,
            send_q: 0,
            local_ip: "10.77.2.2".into(),
            local_port: 6379,
            peer_ip: "10.77.2.3".into(),
            peer_port,
            timer: None,
        }
    }

    #[test]
    fn socket_transitions_and_death() {
        let s = Samples {
            ss: vec![
                (0, vec![row("LISTEN", 0)]),
                (50, vec![row("LISTEN", 0), row("ESTAB", 40000)]),
                (100, vec![row("ESTAB", 40000)]),
                (150, vec![row("FIN-WAIT-1", 40000)]),
                (200, vec![row("FIN-WAIT-1", 40000), row("ESTAB", 40002)]),
                (250, vec![row("ESTAB", 40002)]),
            ],
            client_ss: vec![],
            ct: vec![],
        };
        let tl = server_socket_timeline(&s, 6379, 40000);
        let states: Vec<_> = tl.iter().map(|t| t.state.as_str()).collect();
        assert_eq!(states, ["ESTAB", "FIN-WAIT-1", "gone"]);
        assert_eq!(tl[1].t_ns, 125);
        assert_eq!(tl[1].uncertainty_ns, 25);
        assert_eq!(death(&tl), Some((225, 25)));
        // Unknown client port: the first connection seen.
        let tl = server_socket_timeline(&s, 6379, 1);
        assert_eq!(tl.last().unwrap().state, "gone");
    }

    #[test]
    fn timers() {
        assert_eq!(
            parse_timer("timer:(on,184ms,0)"),
            Some(("on".into(), 184, 0))
        );
        assert_eq!(
            parse_timer("timer:(on,1.200ms,2)"),
            Some(("on".into(), 1200, 2))
        );
        assert_eq!(
            parse_timer("timer:(keepalive,12sec,0)"),
            Some(("keepalive".into(), 12_000, 0))
        );
        assert_eq!(
            parse_timer("timer:(timewait,59sec,0)"),
            Some(("timewait".into(), 59_000, 0))
        );
        assert_eq!(
            parse_timer("timer:(keepalive,119min,0)"),
            Some(("keepalive".into(), 7_140_000, 0))
        );
        assert_eq!(
            parse_timer("timer:(on,1min2sec,3)"),
            Some(("on".into(), 62_000, 3))
        );
        assert_eq!(
            parse_timer("timer:(on,1sec,1)"),
            Some(("on".into(), 1000, 1))
        );
        assert_eq!(parse_timer("nonsense"), None);
    }

    #[test]
    fn timer_dates_a_change() {
        let mut a = row("FIN-WAIT-1", 40000);
        a.timer = Some("timer:(on,408ms,1)".into());
        let mut b = row("FIN-WAIT-1", 40000);
        b.timer = Some("timer:(on,816ms,2)".into());
        let s = Samples {
            ss: vec![
                (1_000_000_000, vec![a]),
                (1_500_000_000, vec![b]),
                (2_000_000_000, vec![]),
            ],
            client_ss: vec![],
            ct: vec![],
        };
        let tl = server_socket_timeline(&s, 6379, 40000);
        let states: Vec<_> = tl.iter().map(|t| t.state.as_str()).collect();
        assert_eq!(
            states,
            ["FIN-WAIT-1 retrans 1", "FIN-WAIT-1 retrans 2", "gone"]
        );
        // The first retransmission timer expired at 1.408 s and fired at
        // most 36 ms later.
        assert_eq!(tl[1].t_ns, 1_426_000_000);
        assert_eq!(tl[1].uncertainty_ns, 18_000_000);
        // The second would fire at 2.316 s, after the last sample: midpoint.
        assert_eq!(tl[2].t_ns, 1_750_000_000);
    }

    #[test]
    fn flow_transitions() {
        let rows = parse_conntrack(CT);
        let s = Samples {
            ss: vec![],
            client_ss: vec![],
            ct: vec![(0, rows.clone()), (50, vec![rows[0].clone()])],
        };
        let tl = flow_timeline(&s, 6379, 40000);
        assert_eq!(tl.len(), 2);
        assert_eq!(tl[0].state, "FIN_WAIT");
        assert_eq!(tl[1].state, "gone");
        assert_eq!(tl[1].t_ns, 25);
    }

    #[test]
    fn nstat_counters() {
        let text = "#kernel\nTcpOutRsts                      3                  0.0\nTcpExtTCPAbortOnData            0                  0.0\nIpInReceives 9 0.0\n";
        assert_eq!(parse_nstat(text), vec![("TcpOutRsts".to_string(), 3)]);
    }
}
